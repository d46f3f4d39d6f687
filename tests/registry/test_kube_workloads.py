"""Kubernetes workload YAML -> instances: Istio's own manifests unchanged, Deployment and Pod
fields, readiness probes, and errors/warnings naming file, line and field path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotfish.registry.images import SAMPLES_DIR, ImageMap, load_image_map
from pilotfish.registry.inputs import Parsed, manifest_of, parse_documents
from pilotfish.registry.workloads import IMAGES_ANNOTATION, Probe, WorkloadSpec

ISTIO = Path(__file__).resolve().parents[1] / "data" / "istio-samples"
SOURCE = "/srv/k8s/app.yaml"


def parse(text: str, images: ImageMap | None = None) -> tuple[list[dict], Parsed]:  # type: ignore[type-arg]
    chosen = images or load_image_map()
    return parse_documents([(SOURCE, text)], images=lambda: chosen)


def only(parsed: Parsed) -> WorkloadSpec:
    assert parsed.ok, [str(d) for d in parsed.diagnostics]
    (workload,) = parsed.manifest.workloads
    return workload


def messages(parsed: Parsed, level: str = "error") -> list[str]:
    return [str(d) for d in parsed.diagnostics if d.level == level]


def deployment(container: str = "", template_meta: str = "", spec: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {{team: a}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
{spec}  template:
    metadata:
      labels: {{app: web, version: v7}}
{template_meta}    spec:
      serviceAccountName: web-sa
      containers:
      - name: web
        image: docker.io/kong/httpbin:latest
        ports:
        - {{containerPort: 8080, name: http}}
{container}"""


def test_istios_bookinfo_manifest_unchanged() -> None:
    bookinfo = (
        ISTIO.parents[1].parent / "samples" / "bookinfo" / "platform" / "kube" / "bookinfo.yaml"
    )
    text = bookinfo.read_text()
    _, parsed = parse_documents([(str(bookinfo), text)], images=load_image_map)
    assert parsed.ok and not parsed.diagnostics, [str(d) for d in parsed.diagnostics]
    manifest = parsed.manifest
    assert [s.name for s in manifest.services] == ["details", "productpage", "ratings", "reviews"]
    workloads = {w.name: w for w in manifest.workloads}
    assert sorted(workloads) == [
        "details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3",
    ]  # fmt: skip
    reviews = workloads["reviews-v2"]
    assert reviews.kind == "Deployment"
    assert reviews.labels == (("app", "reviews"), ("version", "v2"))
    assert reviews.service_account == "bookinfo-reviews"
    assert reviews.ports == (9080,)
    assert reviews.command == ("python", "src/reviews/reviews.py")
    assert reviews.workdir == str(SAMPLES_DIR / "bookinfo")
    assert dict(reviews.env) == {
        "SERVICE_VERSION": "v2", "ENABLE_RATINGS": "true", "STAR_COLOR": "black",
        "LOG_DIR": "/tmp/logs",
    }  # fmt: skip
    assert reviews.instance_names() == ["reviews-v2-0"]
    page = workloads["productpage-v1"]
    assert dict(page.annotations)["prometheus.io/scrape"] == "true"  # the template's
    assert all(w.sidecar and w.readiness is None for w in workloads.values())


@pytest.mark.parametrize("name", ["httpbin.yaml", "sleep.yaml", "curl.yaml"])
def test_istios_httpbin_sleep_curl_unchanged(name: str) -> None:
    path = ISTIO / name
    _, parsed = parse_documents([(str(path), path.read_text())], images=load_image_map)
    workload = only(parsed)
    assert workload.name == workload.service_account == name.removesuffix(".yaml")
    if name == "httpbin.yaml":
        assert workload.labels == (("app", "httpbin"), ("version", "v1"))
        assert (workload.command, workload.ports) == (("python", "httpbin.py"), (8080,))
    else:  # Istio's `command: ["/bin/sleep", "infinity"]` replaces the curl image's program
        assert (workload.command, workload.ports) == (("/bin/sleep", "infinity"), ())


def test_deployment_fields_become_the_workload() -> None:
    notes = (
        "      annotations:\n"
        '        traffic.sidecar.istio.io/excludeOutboundPorts: "3306"\n'
        '        traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/8"\n'
    )
    container = (
        "        command: [pipenv, run, gunicorn]\n"
        "        env:\n"
        "        - {name: GREETING, value: hello}\n"
        "        - {name: MESSAGE, value: $(GREETING) world}\n"
        "        - name: MY_NS\n"
        "          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}\n"
    )
    raws, parsed = parse(deployment(container, notes))
    workload = only(parsed)
    assert (workload.name, workload.namespace, workload.replicas) == ("web", "shop", 2)
    assert workload.labels == (("app", "web"), ("version", "v7"))  # the pod's, not the Deployment's
    assert workload.service_account == "web-sa"
    assert workload.command == ("python", "httpbin.py")  # containerCommands: pipenv
    assert dict(workload.env) == {"GREETING": "hello", "MESSAGE": "hello world", "MY_NS": "shop"}
    assert dict(workload.annotations) == {
        "traffic.sidecar.istio.io/excludeOutboundPorts": "3306",
        "traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8",
    }
    assert workload.instance_names() == ["web-0", "web-1"]
    stored = json.loads(raws[0]["metadata"]["annotations"][IMAGES_ANNOTATION])
    assert stored["docker.io/kong/httpbin:latest"]["command"] == ["python", "httpbin.py"]


def test_args_expand_variables_as_the_kubelet_does() -> None:
    container = (
        "        args: [--port, $(PORT_NAME), $$(KEPT), $(UNDEFINED)]\n"
        "        env: [{name: PORT_NAME, value: '8080'}]\n"
    )
    workload = only(parse(deployment(container))[1])
    assert workload.command == ("python", "httpbin.py", "--port", "8080", "$(KEPT)", "$(UNDEFINED)")


def test_stored_documents_need_no_image_map() -> None:
    raws, parsed = parse(deployment())
    assert parsed.ok
    manifest, problems = manifest_of(raws)
    assert problems == []
    assert manifest.workloads == parsed.manifest.workloads
    empty = ImageMap()  # a document that carries its resolution is not resolved again
    _, again = parse_documents([("<stdin>", json.dumps(raws[0]))], images=lambda: empty)
    assert again.ok and again.manifest.workloads[0].command == ("python", "httpbin.py")


def test_pod_is_one_instance_named_as_the_pod() -> None:
    text = """\
apiVersion: v1
kind: Pod
metadata:
  name: client
  labels: {app: client, sidecar.istio.io/inject: "false"}
  annotations: {sidecar.istio.io/inject: "true"}
spec:
  containers:
  - name: c
    image: curlimages/curl
    command: [/bin/sleep, infinity]
"""
    workload = only(parse(text)[1])
    assert (workload.kind, workload.instance_names()) == ("Pod", ["client"])
    assert workload.sidecar is False  # the pod label wins over the annotation, as in Istio
    assert workload.service_account == "default"


def test_inject_annotation_false_runs_without_sidecar() -> None:
    notes = '      annotations: {sidecar.istio.io/inject: "false"}\n'
    assert only(parse(deployment("", notes))[1]).sidecar is False


def test_readiness_probe_http_by_port_name() -> None:
    container = (
        "        readinessProbe:\n"
        "          httpGet:\n"
        "            path: healthz\n"
        "            port: http\n"
        "            httpHeaders: [{name: X-Probe, value: '1'}]\n"
        "          initialDelaySeconds: 2\n"
        "          timeoutSeconds: 3\n"
    )
    probe = only(parse(deployment(container))[1]).readiness
    assert probe == Probe(
        container="web", kind="http", port=8080, path="/healthz", headers=(("X-Probe", "1"),),
        initial_delay_seconds=2, timeout_seconds=3,
    )  # fmt: skip


def test_readiness_probe_tcp_and_exec() -> None:
    tcp = "        readinessProbe: {tcpSocket: {port: 8080}}\n"
    assert only(parse(deployment(tcp))[1]).readiness == Probe("web", "tcp", 8080)
    exec_ = "        readinessProbe: {exec: {command: [cat, /tmp/ready]}}\n"
    assert only(parse(deployment(exec_))[1]).readiness == Probe(
        "web", "exec", command=("cat", "/tmp/ready")
    )  # the kubelet's (`agent.pod_probes`), never rewritten


def test_readiness_probe_on_an_undeclared_port_is_an_error() -> None:
    container = "        readinessProbe:\n          httpGet: {path: /, port: 9999}\n"
    _, parsed = parse(deployment(container))
    assert not parsed.ok
    assert messages(parsed) == [
        f"{SOURCE}:22: Deployment web at spec.template.spec.containers[0].readinessProbe"
        ".httpGet.port: 9999 is not one of the container's ports [8080]"
    ]


def test_unknown_image_rejects_the_apply_naming_image_file_and_line() -> None:
    text = deployment().replace("docker.io/kong/httpbin:latest", "example.com/team/web:1.2")
    _, parsed = parse(text)
    assert not parsed.ok
    (error,) = messages(parsed)
    assert error.startswith(
        f"{SOURCE}:18: Deployment web at spec.template.spec.containers[0].image: "
        "image 'example.com/team/web:1.2' has no entry in the image map (read: "
    )
    assert "images.yaml" in error


def test_unknown_fields_warn_with_path_and_line_known_ones_do_not() -> None:
    container = (
        "        volumeMounts: [{name: tmp, mountPath: /tmp}]\n"
        "        imagePullPolicy: IfNotPresent\n"
        "        resources: {requests: {cpu: 100m}}\n"
        "        colour: blue\n"
    )
    spec = "  strategy: {type: RollingUpdate}\n  speed: 3\n"
    _, parsed = parse(deployment(container, spec=spec))
    assert parsed.ok
    assert messages(parsed, "warning") == [
        f'{SOURCE}:12: Deployment web at spec.speed: unknown field "speed"',
        f"{SOURCE}:26: Deployment web at spec.template.spec.containers[0].colour: "
        'unknown field "colour"',
    ]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (("matchLabels: {app: web}", "matchLabels: {app: other}"), "spec.selector",
         "does not match template `labels`"),
        (("replicas: 2", "replicas: -1"), "spec.replicas", "from 0 to 100"),
        (("containerPort: 8080", "containerPort: 15001"), "containers[0].ports[0].containerPort",
         "is a sidecar port"),
        (("name: http}\n", "name: http}\n      - {name: web, image: busybox}\n"),
         "spec.template.spec.containers[1].name",
         'Duplicate value: "web" (also spec.template.spec.containers[0].name)'),
        (("name: http}\n", "name: http}\n      - {image: busybox}\n"),
         "spec.template.spec.containers[1].name", "Required value"),
        (("name: http}\n", "name: http}\n      - {name: Two_, image: busybox}\n"),
         "spec.template.spec.containers[1].name", 'Invalid value: "Two_": a lowercase RFC 1123'),
        (("name: http}\n", "name: http}\n      - name: two\n        image: busybox\n"
          "        ports: [{containerPort: 9000}, {containerPort: 8080}]\n"),
         "spec.template.spec.containers[1].ports[1].containerPort",
         "8080 is already container 'web''s (spec.template.spec.containers[0].ports[0]"
         ".containerPort): the containers of a pod share its network"),
        (("name: http}\n", "name: http}\n      - two\n"),
         "spec.template.spec.containers[1]", "must be a map (a container)"),
        (("      containers:\n", "      containers: []\n      x:\n"),
         "spec.template.spec.containers", "Required value: a pod runs at least one container"),
        (("      serviceAccountName", "      restartPolicy: Never\n      serviceAccountName"),
         "spec.template.spec.restartPolicy",
         'Unsupported value: "Never": supported values: "Always"'),
        (("{containerPort: 8080, name: http}", "{containerPort: 8080, name: http}\n"
          "        env: [{name: ME, valueFrom: {fieldRef: {fieldPath: metadata.nam}}}]"),
         "containers[0].env[0].valueFrom.fieldRef.fieldPath",
         'Unsupported value: "metadata.nam": supported values: "metadata.name", '),
        (("{containerPort: 8080, name: http}", "{containerPort: 8080, name: http}\n"
          "        env: [{name: C, valueFrom: {resourceFieldRef: {resource: limits.cpu,"
          " divisor: 2}}}]"),
         "containers[0].env[0].valueFrom.resourceFieldRef.divisor",
         "only divisor's values 1m, 1 are supported with the cpu resource"),
    ],
)  # fmt: skip
def test_errors_name_the_field(change: tuple[str, str], path: str, message: str) -> None:
    text = deployment().replace(*change)
    assert text != deployment()
    _, parsed = parse(text)
    assert not parsed.ok
    hits = [d for d in parsed.diagnostics if d.level == "error" and d.path.endswith(path)]
    assert hits and message in hits[0].message, messages(parsed)
    assert hits[0].source.file == SOURCE and hits[0].source.line > 0


def test_the_cli_check_without_a_map_accepts_unresolved_images() -> None:
    """`apply` checks before sending with no image map; the control plane resolves."""
    text = deployment().replace("docker.io/kong/httpbin:latest", "example.com/team/web:1.2")
    _, parsed = parse_documents([(SOURCE, text)])
    assert parsed.ok
    assert parsed.manifest.workloads[0].instance_names() == ["web-0", "web-1"]


WASM = """apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: filter, namespace: default}
spec:
  url: oci://example.com/filter:1
  priority: '10'
"""


def test_apply_says_which_istio_kinds_are_validated_but_not_enforced() -> None:
    """WasmPlugin and TrafficExtension are checked like every Istio kind (schema, CEL, webhook
    rules) and, when valid, named as not enforced in local mode; an invalid one is refused."""
    _, parsed = parse(WASM)
    assert parsed.ok
    assert messages(parsed, "warning") == [
        f"{SOURCE}:5: WasmPlugin default/filter at spec.url: not applied: these Envoys fetch and "
        "run no Wasm module (the WasmPlugin is validated, then ignored)"
    ]
    _, parsed = parse(WASM.replace("oci://", "ftp://"))
    assert not parsed.ok
    assert [d.path for d in parsed.diagnostics if d.level == "error"] == ["spec.url"]


def test_a_deployment_is_named_with_a_dns_subdomain_a_service_with_a_label() -> None:
    """Kubernetes' rules: `helloworld-region1.zone1` (Istio's gen-helloworld.sh --version
    region1.zone1) is a Deployment name; a Service's name has no dot."""
    dotted = deployment().replace("name: web\n", "name: web-region1.zone1\n", 1)
    assert only(parse(dotted)[1]).instance_names() == ["web-region1.zone1-0", "web-region1.zone1-1"]
    bad = deployment().replace("name: web\n", "name: web..x\n", 1)
    assert messages(parse(bad)[1]) == [
        f"{SOURCE}:4: Deployment web..x at metadata.name: 'web..x' is not a valid DNS subdomain"
    ]
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: a.b}\nspec:\n  ports: [{port: 80}]\n"
    assert messages(parse(service)[1]) == [
        f"{SOURCE}:3: Service a.b at metadata.name: 'a.b' is not a valid DNS label"
    ]


def test_istios_local_ext_authz_runs_both_containers_of_its_pod() -> None:
    """samples/extauthz/local-ext-authz.yaml: httpbin and the authorizer in one pod; each
    container keeps its image's command, env and ports; the pod's ports are all of them."""
    path = ISTIO / "local-ext-authz.yaml"
    _, parsed = parse_documents([(str(path), path.read_text())], images=load_image_map)
    workload = only(parsed)
    assert (workload.name, workload.container, workload.restart_policy) == (
        "httpbin", "httpbin", "Always",
    )  # fmt: skip
    assert workload.command == ("python", "httpbin.py")  # gunicorn, as the image map says
    assert dict(workload.env)["WORKON_HOME"] == "/tmp"
    assert workload.ports == (8080, 8000, 9000)
    (authorizer,) = workload.more
    assert authorizer.name == "ext-authz"
    assert authorizer.command == ("python", "ext_authz.py")
    assert authorizer.ports == (8000, 9000)
    assert authorizer.workdir == str(SAMPLES_DIR / "extauthz")
    assert "WORKON_HOME" not in dict(authorizer.env)  # each container has its own env


def test_a_pods_restart_policy_and_each_containers_probe() -> None:
    pod = """\
apiVersion: v1
kind: Pod
metadata: {name: job, namespace: shop}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: main, image: docker.io/kong/httpbin, ports: [{containerPort: 8080}]}
  - name: helper
    image: registry.istio.io/testing/ext-authz
    ports: [{containerPort: 9000, name: grpc}]
    readinessProbe: {tcpSocket: {port: grpc}}
"""
    workload = only(parse(pod)[1])
    assert workload.restart_policy == "OnFailure"
    assert workload.readiness is None
    assert workload.more[0].readiness == Probe("helper", "tcp", 9000)
    bad = parse(pod.replace("OnFailure", "Sometimes"))[1]
    assert messages(bad) == [
        f'{SOURCE}:5: Pod job at spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "OnFailure", "Never"'
    ]
