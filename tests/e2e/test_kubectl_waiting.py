"""kubectl commands Istio's tasks type besides `get` and `apply` (issue 8, kubectl habits), on a
real mesh: `wait --for=condition=Ready pod -l app=…`, `rollout status deploy/NAME`, `scale`,
`delete namespace` (everything in it, as every task's cleanup expects),
`port-forward` (to the app's own port, around its sidecar, and to Envoy's admin), `get events`
(the BackOff of a container whose restart waited, last seen then), `get crd`, the `istio`
ConfigMap of a mesh started with `up`, AGE from the creation time the store writes, `get svc -o
wide`'s SELECTOR, and a clear "not yet" for the Kubernetes Gateway API's kinds not served yet.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.e2e.meshctl import ROOT, LocalMesh, PortForward, pilotfish_ok, running_mesh

HTTPBIN = "samples/httpbin/httpbin.yaml"
SLEEP = "samples/sleep/sleep.yaml"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as m:
        m.apply(SLEEP)
        yield m


_ok = pilotfish_ok


def test_wait_for_pods_ready_then_for_their_deletion(mesh: LocalMesh) -> None:
    applied = _ok(mesh, "apply", "--no-wait", "-n", "waits", "-f", HTTPBIN)
    assert "rolled out" not in applied  # returned at once: the pod may not run yet
    waited = _ok(
        mesh, "wait", "--for=condition=Ready", "pod", "-l", "app=httpbin", "-n", "waits",
        "--timeout", "60s",
    )  # fmt: skip
    assert waited == "pod/httpbin-v1-0 condition met\n"
    pods = _ok(mesh, "get", "pods", "-n", "waits")
    assert pods.split("\n")[1].split()[:3] == ["httpbin-v1-0", "2/2", "Running"], pods
    available = _ok(mesh, "wait", "--for=condition=available", "deployment", "--all", "-n", "waits")
    assert available == "deployment.apps/httpbin-v1 condition met\n"
    _ok(mesh, "delete", "--no-wait", "-n", "waits", "-f", HTTPBIN)
    gone = _ok(mesh, "wait", "--for=delete", "pod/httpbin-v1-0", "-n", "waits", "--timeout=60s")
    assert gone == "pod/httpbin-v1-0 condition met\n"
    assert "httpbin-v1-0.waits" not in mesh.info["proxies"]


def test_rollout_status_until_every_replica_is_ready(mesh: LocalMesh) -> None:
    text = (ROOT / HTTPBIN).read_text()
    workdir = f"replicas: 2\n  workingDir: {ROOT / 'samples/httpbin'}"
    _ok(
        mesh,
        "apply",
        "--no-wait",
        "-n",
        "rollouts",
        "-f",
        "-",
        stdin=text.replace("replicas: 1", workdir),
    )
    status = _ok(mesh, "rollout", "status", "deploy/httpbin-v1", "-n", "rollouts", "--timeout=60s")
    lines = status.splitlines()
    assert lines[-1] == 'deployment "httpbin-v1" successfully rolled out', status
    assert all(line.startswith('Waiting for deployment "httpbin-v1"') for line in lines[:-1])
    deploy = json.loads(_ok(mesh, "get", "deploy", "httpbin-v1", "-n", "rollouts", "-o", "json"))
    assert deploy["status"]["readyReplicas"] == 2
    _ok(mesh, "delete", "-n", "rollouts", "-f", HTTPBIN)


def test_scale_returns_once_the_new_pods_are_endpoints(mesh: LocalMesh) -> None:
    _ok(mesh, "apply", "-n", "scaled", "-f", HTTPBIN)
    scaled = _ok(mesh, "scale", "deploy/httpbin-v1", "--replicas=2", "-n", "scaled")
    assert scaled.endswith("deployment.apps/httpbin-v1 scaled\n"), scaled
    assert "rolled out: httpbin-v1.scaled" in scaled
    cluster = "outbound|8000||httpbin.scaled.svc.cluster.local"
    # the endpoints are the sleep sidecar's once it has called the service (on-demand clusters)
    curl = ("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.scaled:8000/ip")
    assert _ok(mesh, "exec", "sleep", "--", *curl) == "200"
    endpoints = _ok(mesh, "proxy-config", "endpoint", "sleep", "--cluster", cluster)
    ips = {mesh.proxy(f"httpbin-v1-{i}.scaled")["ip"] for i in range(2)}
    assert all(f"{ip}:" in endpoints for ip in ips), endpoints
    _ok(mesh, "scale", "deployment", "httpbin-v1", "--replicas", "1", "-n", "scaled")
    assert "httpbin-v1-1.scaled" not in mesh.info["proxies"]
    deploy = json.loads(_ok(mesh, "get", "deploy", "httpbin-v1", "-n", "scaled", "-o", "json"))
    assert (deploy["spec"]["replicas"], deploy["status"]["readyReplicas"]) == (1, 1)


def test_delete_namespace_deletes_what_is_in_it(mesh: LocalMesh) -> None:
    _ok(mesh, "create", "namespace", "doomed")
    _ok(mesh, "label", "namespace", "doomed", "istio-injection=enabled")
    _ok(mesh, "apply", "-n", "doomed", "-f", HTTPBIN, "-f", SLEEP)
    assert {"httpbin-v1-0.doomed", "sleep-0.doomed"} <= set(mesh.info["proxies"])
    deleted = _ok(mesh, "delete", "namespace", "doomed")
    assert deleted.endswith('namespace "doomed" deleted\n'), deleted
    assert deleted.count('namespace "doomed" deleted') == 1, deleted  # once, as kubectl says it
    assert not [key for key in mesh.info["proxies"] if key.endswith(".doomed")]
    for kind in ("pods", "svc", "sa"):
        result = mesh.pilotfish("get", kind, "-n", "doomed")
        assert result.stdout == "" and "No resources found" in result.stderr, kind
    assert "doomed" not in _ok(mesh, "get", "ns")
    again = mesh.pilotfish("delete", "ns", "doomed")
    assert again.returncode == 1 and 'namespaces "doomed" not found' in again.stderr
    assert _ok(mesh, "get", "pods").count("Running") == 2  # default's httpbin and sleep stay


def test_apply_and_delete_a_kustomization(mesh: LocalMesh) -> None:
    applied = _ok(mesh, "apply", "-k", "samples/tcp-echo", "-n", "kustomized")
    assert "rolled out: tcp-client.kustomized, tcp-echo-v1.kustomized, tcp-echo-v2" in applied
    url = "http://tcp-client.kustomized:8080/echo?msg=hi"  # tcp-client -> tcp-echo over TCP
    reply = _ok(mesh, "exec", "sleep", "--", "curl", "-s", url)
    assert reply.split() in (["one", "hi"], ["two", "hi"]), reply
    _ok(mesh, "delete", "-k", "samples/tcp-echo", "-n", "kustomized")
    assert not [key for key in mesh.info["proxies"] if key.endswith(".kustomized")]
    neither = mesh.pilotfish("apply")
    assert neither.returncode == 1 and "must specify one of -f and -k" in neither.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["wait", "--for=condition=Ready", "pod/nope"], 'pods "nope" not found'),
        (["wait", "--for=condition=Ready", "pod", "-l", "app=nope"], "no matching resources"),
        (["wait", "--for=condition=Bogus", "pod", "--all"], 'condition "bogus"'),
        (["wait", "--for=condition=Ready", "pod", "--all", "--timeout=1x"], "invalid argument"),
        (["rollout", "status", "deploy/nope"], 'deployments.apps "nope" not found'),
        (["scale", "deploy/nope", "--replicas=1"], 'deployments.apps "nope" not found'),
        (["scale", "deploy/httpbin-v1"], "--replicas=COUNT flag is required"),
        (
            ["wait", "--for=condition=programmed", "gtw", "httpbin-gateway"],
            'Error from server (NotFound): gateways.gateway.networking.k8s.io "httpbin-gateway"',
        ),
    ],
)
def test_wait_errors_as_kubectl(mesh: LocalMesh, args: list[str], error: str) -> None:
    result = mesh.pilotfish(*args)
    assert result.returncode == 1 and error in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "No such command" not in result.stderr


def _fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_port_forward_reaches_the_pods_own_ports(mesh: LocalMesh) -> None:
    app = PortForward(mesh, "svc/httpbin", ":8000")  # service port 8000 -> the pod's 8080
    admin = PortForward(mesh, "deploy/httpbin-v1", ":15000")  # any free local port
    try:
        assert app.lines[0] == f"Forwarding from 127.0.0.1:{app.ports[0]} -> 8080\n"
        status, headers, body = _fetch(f"http://127.0.0.1:{app.ports[0]}/headers")
        assert status == 200 and "headers" in json.loads(body)
        # the app's own socket, as kubectl reaches it inside the pod: not through the sidecar
        assert "x-envoy-upstream-service-time" not in {k.lower() for k in headers}
        assert admin.lines[0] == f"Forwarding from 127.0.0.1:{admin.ports[0]} -> 15000\n"
        status, _, stats = _fetch(f"http://127.0.0.1:{admin.ports[0]}/stats")
        assert status == 200 and b"server.live: 1" in stats
    finally:
        app.stop()
        admin.stop()
    assert app.process.stdout is not None
    assert f"Handling connection for {app.ports[0]}" in app.process.stdout.read()


def test_port_forward_refuses_what_is_not_there(mesh: LocalMesh) -> None:
    no_port = mesh.pilotfish("port-forward", "svc/httpbin", "9999")
    assert no_port.returncode == 1
    assert "Service httpbin does not have a service port 9999" in no_port.stderr
    addon = mesh.pilotfish("port-forward", "-n", "istio-system", "svc/kiali", "20001")
    assert addon.returncode == 1 and "pilotfish dashboard kiali" in addon.stderr, addon.stderr


def test_get_events_and_crds(mesh: LocalMesh) -> None:
    events = _ok(mesh, "get", "events")
    assert events.split("\n")[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Started container istio-proxy" in events and "pod/sleep-0" in events, events
    crds = _ok(mesh, "get", "crd")
    names = [line.split()[0] for line in crds.splitlines()[1:]]
    assert (
        "virtualservices.networking.istio.io" in names and "gateways.networking.istio.io" in names
    )
    # served: Istio's Getting Started finds the Gateway API's CRDs and installs none
    gateway_api = mesh.pilotfish("get", "crd", "gateways.gateway.networking.k8s.io")
    assert gateway_api.returncode == 0, gateway_api.stderr
    missing = mesh.pilotfish("get", "crd", "udproutes.gateway.networking.k8s.io")
    assert missing.returncode == 1 and "NotFound" in missing.stderr


@pytest.mark.parametrize(
    "kind", ["udproute", "backendtlspolicies", "udproutes.gateway.networking.k8s.io"]
)
def test_gateway_api_kinds_not_served_say_not_yet(mesh: LocalMesh, kind: str) -> None:
    result = mesh.pilotfish("get", kind)
    assert result.returncode == 1, result.stdout
    said = "this kind of the Kubernetes Gateway API (gateway.networking.k8s.io) is not yet"
    assert said in result.stderr, result.stderr


def test_gateway_api_kinds_served_list_as_kubectl(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("get", "httproute")
    assert result.returncode == 0 and "No resources found in default namespace." in result.stderr


def test_applying_gateway_api_yaml_says_why_nothing_happened(mesh: LocalMesh) -> None:
    doc = (
        "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: UDPRoute\nmetadata:\n  name: grpc\n"
        "spec:\n  parentRefs:\n  - name: httpbin-gateway\n"
    )
    result = mesh.pilotfish("apply", "-f", "-", stdin=doc)
    assert result.returncode == 1
    assert "UDPRoute ignored: this kind of the Kubernetes Gateway API" in result.stderr
    bad = doc.replace("UDPRoute", "HTTPRoute").replace("v1alpha2", "v1")
    bad += "  rules:\n  - backendRefs:\n    - name: x\n"
    result = mesh.pilotfish("apply", "-f", "-", stdin=bad)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "<stdin>:10: HTTPRoute default/grpc at spec.rules[0].backendRefs[0]: Must have port for"
        " Service reference" in result.stderr
    ), result.stderr


def test_istio_configmap_of_a_mesh_started_with_up(mesh: LocalMesh) -> None:
    """Istio's egress task reads the mesh config from the `istio` ConfigMap: present with
    Istio's defaults (no `mode: ALLOW_ANY` line: the default), edited and applied back it
    changes the mesh."""
    text = _ok(mesh, "get", "configmap", "istio", "-n", "istio-system", "-o", "yaml")
    assert "  mesh: |-\n" in text and "mode: ALLOW_ANY" not in text, text
    configmap = YAML(typ="safe").load(text)
    mesh_config = YAML(typ="safe").load(configmap["data"]["mesh"])
    assert mesh_config["enablePrometheusMerge"] is True
    assert mesh_config["rootNamespace"] == "istio-system"
    edited = text.replace(
        "  mesh: |-\n", "  mesh: |-\n    outboundTrafficPolicy:\n      mode: REGISTRY_ONLY\n"
    )
    _ok(mesh, "apply", "-f", "-", stdin=edited)
    try:
        url = "http://unregistered.example/"  # apply returned: every proxy has the change
        curl = ("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url)
        assert _ok(mesh, "exec", "sleep", "--", *curl) == "502"  # BlackHoleCluster
        again = _ok(mesh, "get", "cm", "istio", "-n", "istio-system", "-o", "yaml")
        assert "mode: REGISTRY_ONLY" in again
    finally:
        _ok(mesh, "delete", "configmap", "istio", "-n", "istio-system")


def test_names_as_kubectl_prints_them(mesh: LocalMesh) -> None:
    names = _ok(mesh, "get", "pods", "-o", "name").split()
    assert "pod/sleep-0" in names and all(n.startswith("pod/") for n in names), names
    assert _ok(mesh, "get", "svc", "httpbin", "-o", "name") == "service/httpbin\n"
    assert _ok(mesh, "get", "deploy", "-o", "name").startswith("deployment.apps/")


def test_a_port_route_name_says_where_local_mode_keeps_the_routes(mesh: LocalMesh) -> None:
    """Istio's debugging docs read `proxy-config routes POD --name 9080`; a local sidecar's
    outbound HTTP routes are in `http_proxy` (it is the apps' HTTP proxy)."""
    # on-demand virtual hosts (the default): sleep holds httpbin's once it has called it
    _ok(mesh, "exec", "sleep", "--", "curl", "-s", "-o", "/dev/null", "http://httpbin:8000/get")
    by_port = mesh.pilotfish("proxy-config", "routes", "sleep", "--name", "8000")
    assert by_port.returncode == 0 and "route configuration http_proxy" in by_port.stderr
    found = _ok(mesh, "proxy-config", "routes", "sleep", "--name", "http_proxy")
    assert "httpbin.default.svc.cluster.local:8000" in found, found


DR_IN_TWO_NAMESPACES = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec: {host: httpbin}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: tables}
spec: {host: httpbin.default.svc.cluster.local}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: tables}
spec: {mtls: {mode: PERMISSIVE}}
"""


def test_config_tables_as_kubectl_prints_them(mesh: LocalMesh) -> None:
    """The current namespace unless -A, NAMESPACE only with -A, Istio's CRD printer columns."""
    _ok(mesh, "apply", "-f", "-", stdin=DR_IN_TWO_NAMESPACES)
    try:
        here = [line.split() for line in _ok(mesh, "get", "dr").splitlines()]
        assert here[0] == ["NAME", "HOST", "AGE"] and here[1][:2] == ["httpbin", "httpbin"]
        assert re.fullmatch(r"\d+s", here[1][2]), here  # just created: seconds, as kubectl
        every = [line.split() for line in _ok(mesh, "get", "destinationrules", "-A").splitlines()]
        assert every[0] == ["NAMESPACE", "NAME", "HOST", "AGE"]
        assert ["tables", "httpbin", "httpbin.default.svc.cluster.local"] in [
            row[:3] for row in every
        ], every
        modes = [line.split()[:2] for line in _ok(mesh, "get", "pa", "-n", "tables").splitlines()]
        assert modes == [["NAME", "MODE"], ["default", "PERMISSIVE"]]
        none = mesh.pilotfish("get", "pa")
        assert none.stderr == "No resources found in default namespace.\n", none.stderr
        missing = mesh.pilotfish("get", "vs", "nope")
        assert 'virtualservices.networking.istio.io "nope" not found' in missing.stderr
    finally:
        _ok(mesh, "delete", "-f", "-", stdin=DR_IN_TWO_NAMESPACES)


def test_proxy_config_json_as_istioctl_prints_it(mesh: LocalMesh) -> None:
    """Istio's certificate tasks: `istioctl proxy-config secret POD -o json | jq
    '[.dynamicActiveSecrets[] | select(.name == "default")][0].secret.tlsCertificate
    .certificateChain.inlineBytes' -r | base64 -d | openssl x509 -noout -text`."""
    import base64

    secrets = json.loads(_ok(mesh, "proxy-config", "secret", "sleep", "-o", "json"))
    default = next(s for s in secrets["dynamicActiveSecrets"] if s["name"] == "default")
    pem = base64.b64decode(default["secret"]["tlsCertificate"]["certificateChain"]["inlineBytes"])
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----"), pem[:40]
    clusters = json.loads(_ok(mesh, "proxy-config", "cluster", "sleep", "-o", "json"))
    assert isinstance(clusters, list) and all("connectTimeout" in c for c in clusters), clusters
    dump = json.loads(_ok(mesh, "proxy-config", "all", "sleep", "-o", "json"))
    assert "dynamicActiveClusters" in dump["configs"][1], list(dump["configs"][1])
    node = dump["configs"][0]["bootstrap"]["node"]
    assert "INSTANCE_IPS" in node["metadata"]  # a Struct's keys are data: unchanged


AGE = re.compile(r"^\d+s$|^\d+m(\d+s)?$")  # a mesh of minutes: kubectl's 45s, 3m12s, 12m
DR = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: aged}\n"


def test_ages_selectors_and_last_seen_as_kubectl_shows_them(mesh: LocalMesh) -> None:
    """AGE from the creation time the store writes (kept when the object is applied again),
    `get svc -o wide`'s SELECTOR, and the BackOff event of a container killed twice (its
    second restart waits), last seen then."""
    _ok(mesh, "apply", "-f", "-", stdin=DR + "spec: {host: httpbin}\n")
    try:
        rows = _rows(_ok(mesh, "get", "dr", "aged"))
        assert rows[0][-1] == "AGE" and AGE.match(rows[1][-1]), rows
        created = ["get", "dr", "aged", "-o", "jsonpath={.metadata.creationTimestamp}"]
        first = _ok(mesh, *created)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first), first
        time.sleep(1.1)
        again = _ok(mesh, "apply", "-f", "-", stdin=DR + "spec: {host: httpbin.default}\n")
        assert "destinationrule.networking.istio.io/aged configured" in again, again
        assert _ok(mesh, *created) == first  # the API server keeps the first creation time
    finally:
        _ok(mesh, "delete", "dr", "aged")
    for kind in ("deploy", "svc", "ns"):
        ages = {row[0]: row[-1] for row in _rows(_ok(mesh, "get", kind))[1:]}
        assert ages and all(AGE.match(a) for a in ages.values()), (kind, ages)
    wide = _rows(_ok(mesh, "get", "svc", "-o", "wide"))
    assert wide[0][-1] == "SELECTOR" and ["httpbin", "app=httpbin"] in [
        [r[0], r[-1]] for r in wide
    ], wide
    # the kubelet restarts a container at once the first time, then waits its back-off (10 s)
    # and says so: kill it, then its new run
    killed = int(mesh.proxy("sleep-0")["app_pid"])
    os.kill(killed, signal.SIGKILL)
    mesh.wait_for(lambda: mesh.proxy("sleep-0")["app_pid"] not in (None, killed), 30,
                  "sleep restarted at once")  # fmt: skip
    os.kill(int(mesh.proxy("sleep-0")["app_pid"]), signal.SIGKILL)

    def backoff() -> str | None:
        head, *events = _rows(_ok(mesh, "get", "events"))
        for row in events:
            if "BackOff" in row and "pod/sleep-0" in row:
                return row[head.index("LAST-SEEN")]
        return None

    mesh.wait_for(lambda: backoff() is not None, 30, "sleep's BackOff event")
    seen = backoff()
    assert seen is not None and AGE.match(seen), seen


def _rows(text: str) -> list[list[str]]:
    """A kubectl table's rows, LAST SEEN kept as one cell."""
    return [line.replace("LAST SEEN", "LAST-SEEN").split() for line in text.splitlines()]
