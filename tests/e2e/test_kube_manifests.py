"""Istio's own Kubernetes manifests, unchanged (`tests/data/istio-samples`: Bookinfo, httpbin,
sleep, curl), run as a local mesh: their images resolve through the image map, and they serve
what pilotfish's own samples serve (the assertions of test_bookinfo_routing and the httpbin
samples). Also: kubectl habits on Deployments, a `v1 Pod` with a readiness probe that keeps it
out of the endpoints until it passes, a user image map, and an unknown image rejecting an
apply whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, http, running_mesh

ISTIO_SAMPLES = "tests/data/istio-samples"
SPLIT = "=====8<====="

USER_MAP = f"""\
images:
- names: [example.com/shop/gate]
  command: [python, httpbin.py]
  workingDir: {ROOT / "samples" / "httpbin"}
"""

GATE_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: gate, labels: {app: gate}}
spec:
  ports: [{name: http, port: 8000, targetPort: 8080}]
  selector: {app: gate}
"""


def gate_pod(name: str, ready_path: str) -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: gate}}
spec:
  containers:
  - name: gate
    image: example.com/shop/gate:3.1
    ports: [{{containerPort: 8080, name: web}}]
    readinessProbe:
      httpGet: {{path: "{ready_path}", port: web}}
      periodSeconds: 1
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("images")
    (folder / "map.yaml").write_text(USER_MAP)
    env = {"PILOTFISH_IMAGE_MAP": str(folder / "map.yaml")}
    with running_mesh(tmp_path_factory, ISTIO_SAMPLES, env=env) as m:
        yield m


def exec_sh(mesh: LocalMesh, pod: str, script: str) -> str:
    result = mesh.pilotfish("exec", pod, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bookinfo_serves_productpage_with_every_reviews_version(mesh: LocalMesh) -> None:
    loop = (
        f"for i in $(seq 24); do curl -s http://productpage:9080/productpage; echo '{SPLIT}'; done"
    )
    pages: dict[str, str] = {}
    for body in exec_sh(mesh, "deploy/sleep", loop).split(SPLIT)[:-1]:
        assert "Reviews served by:" in body, body[:500]
        served = body.split("Reviews served by:", 1)[1].split("<u>")[1].split("</u>")[0]
        pages[served] = body
    assert set(pages) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, sorted(pages)
    assert 'color="black"' in pages["reviews-v2-0"] and 'color="red"' not in pages["reviews-v2-0"]
    assert 'color="red"' in pages["reviews-v3-0"]
    assert 'color="' not in pages["reviews-v1-0"]
    assert all("The Comedy of Errors" in p and "ISBN-10" in p for p in pages.values())


def test_httpbin_headers_from_sleep_carry_sleeps_identity(mesh: LocalMesh) -> None:
    out = exec_sh(mesh, "deploy/sleep", "curl -s http://httpbin:8000/headers")
    headers = {k.lower(): v for k, v in json.loads(out)["headers"].items()}
    assert "URI=spiffe://cluster.local/ns/default/sa/sleep" in headers["x-forwarded-client-cert"]
    assert "By=spiffe://cluster.local/ns/default/sa/httpbin" in headers["x-forwarded-client-cert"]
    out = exec_sh(mesh, "deploy/curl", "curl -s -o /dev/null -w '%{http_code}' httpbin:8000/ip")
    assert out == "200"


def test_kubectl_habits_on_deployments(mesh: LocalMesh) -> None:
    deploys = mesh.pilotfish("get", "deploy")
    assert deploys.returncode == 0, deploys.stderr
    rows = {line.split()[0]: line.split()[1] for line in deploys.stdout.splitlines()[1:]}
    for name in ("productpage-v1", "reviews-v3", "httpbin", "sleep", "curl"):
        assert rows.get(name) == "1/1", deploys.stdout
    pods = mesh.pilotfish("get", "pods")
    assert pods.returncode == 0, pods.stderr
    ready = {line.split()[0]: line.split()[1] for line in pods.stdout.splitlines()[1:]}
    assert ready.get("httpbin-0") == "2/2" and ready.get("details-v1-0") == "2/2", pods.stdout
    admin = exec_sh(mesh, "deploy/httpbin", "curl -s localhost:15000/server_info")
    assert '"state": "LIVE"' in admin


def test_pod_joins_endpoints_only_when_its_readiness_probe_passes(mesh: LocalMesh) -> None:
    """gate-a's app answers but its probe (/status/503) fails; gate-b's probe passes."""
    pods = [gate_pod("gate-a", "/status/503"), gate_pod("gate-b", "/status/200")]
    manifest = "---\n".join([GATE_SERVICE, *pods])
    applied = mesh.pilotfish("apply", "--no-wait", "-f", "-", stdin=manifest)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    def health(pod: str, container: str = "gate") -> int:
        ip = mesh.info["proxies"][f"{pod}.default"]["ip"]  # KeyError until it starts
        return http(f"http://{ip}:15020/app-health/{container}/readyz").status

    mesh.wait_for(lambda: health("gate-b") == 200, 40, "gate-b's probe to pass")
    app = f"http://127.0.0.1:{mesh.info['proxies']['gate-a.default']['app_ports']['8080']}"
    mesh.wait_for(lambda: http(f"{app}/get").status == 200, 30, "gate-a's app to answer")
    # as Istio's status server: the app's own status; 400 for a container with no probe
    assert (health("gate-a"), health("gate-b", "other")) == (503, 400)
    loop = "for i in $(seq 12); do curl -s -D - -o /dev/null gate:8000/get; done"
    mesh.wait_for(lambda: "x-served-by: gate-b" in exec_sh(mesh, "deploy/sleep", loop).lower())
    served = exec_sh(mesh, "deploy/sleep", loop).lower()
    assert served.count("x-served-by: gate-b") == 12, served  # never gate-a, not an endpoint
    assert health("gate-a") == 503
    listed = mesh.pilotfish("get", "pods").stdout
    ready = {line.split()[0]: line.split()[1] for line in listed.splitlines()[1:]}
    assert (ready.get("gate-a"), ready.get("gate-b")) == ("0/2", "2/2"), listed
    assert mesh.pilotfish("delete", "-f", "-", stdin=manifest).returncode == 0


def test_unknown_image_rejects_the_whole_apply(mesh: LocalMesh, tmp_path: Path) -> None:
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: kube-manifests-dr}\nspec: {host: httpbin}\n"
    )
    bad = gate_pod("mystery", "/").replace("example.com/shop/gate:3.1", "quay.io/acme/mystery:9")
    path = tmp_path / "bad.yaml"
    text = rule + "---\n" + bad
    path.write_text(text)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 1
    line = text.splitlines().index("    image: quay.io/acme/mystery:9") + 1
    assert (
        f"{path}:{line}: Pod mystery at spec.containers[0].image: image 'quay.io/acme/mystery:9' "
        "has no entry in the image map"
    ) in result.stderr, result.stderr
    assert mesh.pilotfish("get", "dr", "kube-manifests-dr").returncode == 1  # nothing applied
    assert "mystery" not in mesh.pilotfish("get", "pods").stdout


SQUID = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: squid
  namespace: external
spec:
  replicas: 1
  selector:
    matchLabels:
      app: squid
  template:
    metadata:
      labels:
        app: squid
    spec:
      volumes:
      - name: proxy-config
        configMap:
          name: proxy-configmap
      containers:
      - name: squid
        image: sameersbn/squid:3.5.27
        imagePullPolicy: IfNotPresent
        volumeMounts:
        - name: proxy-config
          mountPath: /etc/squid
          readOnly: true
"""
"""Istio's "Using an External HTTPS Proxy" task's Squid Deployment, as the page writes it."""


def test_the_https_proxy_pages_configmap_and_its_squid(mesh: LocalMesh, tmp_path: Path) -> None:
    """The page's `kubectl create configmap proxy-configmap -n external
    --from-file=squid.conf=./proxy.conf` (was: "No such command 'configmap'") and
    `--from-literal`; its Squid image, which local mode has no command for, is refused whole
    with the file, line and field, not silently left out."""
    mesh.pilotfish("create", "namespace", "external")
    conf = tmp_path / "proxy.conf"
    conf.write_text("http_port 3128\n\nacl SSL_ports port 443\nacl CONNECT method CONNECT\n")
    created = mesh.pilotfish(
        "create", "configmap", "proxy-configmap", "-n", "external",
        f"--from-file=squid.conf={conf}", "--from-literal=mode=tunnel",
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert created.stdout.startswith("configmap/proxy-configmap created\n"), created.stdout
    stored = mesh.pilotfish("get", "cm", "proxy-configmap", "-n", "external", "-o", "json")
    data = json.loads(stored.stdout)["data"]
    assert data == {"squid.conf": conf.read_text(), "mode": "tunnel"}, data
    path = tmp_path / "squid.yaml"
    path.write_text(SQUID)
    refused = mesh.pilotfish("apply", "-f", str(path))
    assert refused.returncode == 1
    line = SQUID.splitlines().index("        image: sameersbn/squid:3.5.27") + 1
    assert (
        f"{path}:{line}: Deployment squid at spec.template.spec.containers[0].image: image "
        "'sameersbn/squid:3.5.27' has no entry in the image map"
    ) in refused.stderr, refused.stderr
    deleted = mesh.pilotfish("delete", "namespace", "external")
    assert deleted.returncode == 0, deleted.stderr


DOWNWARD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: downward}
spec:
  replicas: 2
  selector: {matchLabels: {app: downward}}
  template:
    metadata: {labels: {app: downward, version: v9}, annotations: {team: blue}}
    spec:
      containers:
      - name: gate
        image: example.com/shop/gate:3.1
        ports: [{containerPort: 8080}]
        resources: {limits: {memory: 64Mi}, requests: {cpu: 100m}}
        env:
        - {name: MY_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: MY_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
        - {name: MY_VERSION, valueFrom: {fieldRef: {fieldPath: "metadata.labels['version']"}}}
        - {name: MY_TEAM, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}}
        - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: MY_SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
        - {name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: MY_HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
        - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
        - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
        - {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        - {name: HELLO, value: "I am $(MY_POD_NAME) at $(MY_POD_IP)"}
"""


def test_the_downward_api_reaches_each_pods_app(mesh: LocalMesh) -> None:
    """Istio's samples (open-telemetry/otel.yaml and others) set env from `fieldRef`s: each
    pod's app gets its own values, the ones `get pod -o yaml` and `get nodes` show."""
    applied = mesh.pilotfish("apply", "-f", "-", stdin=DOWNWARD)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    node = mesh.pilotfish("get", "nodes", "-o", "json")
    assert node.returncode == 0, node.stderr
    (node_obj,) = json.loads(node.stdout)["items"]
    for pod in ("downward-0", "downward-1"):
        shown = mesh.pilotfish("get", "pod", pod, "-o", "json")
        assert shown.returncode == 0, shown.stderr
        obj = json.loads(shown.stdout)
        pid = mesh.info["proxies"][f"{pod}.default"]["app_pid"]
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().partition("=")[::2] for item in raw if item)
        assert {k: v for k, v in env.items() if k.startswith(("MY_", "MEM_", "CPU_"))} == {
            "MY_POD_NAME": obj["metadata"]["name"], "MY_NS": "default",
            "MY_UID": obj["metadata"]["uid"], "MY_VERSION": "v9", "MY_TEAM": "blue",
            "MY_NODE": node_obj["metadata"]["name"], "MY_SA": "default",
            "MY_POD_IP": obj["status"]["podIP"], "MY_HOST_IP": obj["status"]["hostIP"],
            "MEM_MI": "64", "CPU_M": "100", "CPU_LIMIT": node_obj["status"]["allocatable"]["cpu"],
        }  # fmt: skip
        assert env["MY_POD_NAME"] == pod and obj["spec"]["nodeName"] == env["MY_NODE"]
        assert env["HELLO"] == f"I am {pod} at {obj['status']['podIP']}"
        # kubectl exec runs in the container: its commands see the app's declared env as the
        # app got it; the istio-proxy container's do not
        shown_env = dict(
            line.partition("=")[::2] for line in exec_sh(mesh, pod, "env").splitlines()
        )
        declared = {k: v for k, v in env.items() if k.startswith(("MY_", "MEM_", "CPU_", "HELLO"))}
        assert {k: shown_env.get(k) for k in declared} == declared, shown_env
        proxy = mesh.pilotfish("exec", pod, "-c", "istio-proxy", "--", "env")
        assert proxy.returncode == 0, proxy.stderr
        assert "MY_POD_NAME=" not in proxy.stdout and "HELLO=" not in proxy.stdout, proxy.stdout
        assert f"POD_NAME={pod}\n" in proxy.stdout, proxy.stdout
    assert mesh.pilotfish("delete", "-f", "-", stdin=DOWNWARD).returncode == 0
