"""Istio's "Health Checking of Istio Services" page (istio.io/latest/docs/ops/configuration/mesh/
app-health-check/) with the kubelet's liveness probes, through real processes: Istio's
`samples/health-check/liveness-command.yaml` and `liveness-http-same-port.yaml` applied as the
page applies them (`kubectl apply -f <(istioctl kube-inject -f …)`), in namespaces with STRICT
mutual TLS.

- the command sample's `exec` probe (`cat /tmp/healthy`) passes: `2/2 Running 0`; the same pod
  whose file goes away (the Kubernetes page's `rm -f /tmp/healthy`) is killed and restarted by
  its probe, stays Running with RESTARTS going up, and `describe pod` / `get events` show the
  kubelet's words. Local mode shares the host's /tmp: the file is in the test's own folder;
- the HTTP sample's `httpGet` probe on the app's own port passes under STRICT mTLS (RESTARTS 0)
  because Istio's injector rewrote it to the agent's `/app-health/liveness-http/livez` on 15020
  (the istio-proxy container's ISTIO_KUBE_APP_PROBERS shows it); the same pod annotated
  `sidecar.istio.io/rewriteAppHTTPProbers: "false"` is probed by the kubelet in plaintext through
  its sidecar and fails (restarted); a probe of a path the app does not serve fails with
  "HTTP probe failed with statuscode: 404";
- the HTTP sample's probe as a startupProbe holds readiness (1/2, `started: false`) and
  restarts a container that never starts; the command sample's as a readinessProbe holds the
  pod until its file exists.

One mesh for the module; the passing and failing pods of each sample run side by side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import BOTH_MODES, ROOT, LocalMesh
from tests.e2e.pagekit import add_shims, sh_ok

DATA = ROOT / "tests/data/istio-samples"

STRICT = """\
apiVersion: "security.istio.io/v1beta1"
kind: "PeerAuthentication"
metadata:
  name: "default"
  namespace: "{namespace}"
spec:
  mtls:
    mode: STRICT
"""


@pytest.fixture(scope="module", params=BOTH_MODES)
def mesh(tmp_path_factory: pytest.TempPathFactory, request: Any) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None, isolated=request.param == "isolated")
    try:
        result = mesh.up()
        assert result.returncode == 0, result.stdout + result.stderr
        add_shims(mesh)
        yield mesh
    finally:
        mesh.down()


def ok(mesh: LocalMesh, *args: str, stdin: str | None = None) -> str:
    result = mesh.pilotfish(*args, stdin=stdin)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def restarts(mesh: LocalMesh, namespace: str) -> dict[str, tuple[str, str, int]]:
    """`kubectl get pod -n NS`: each pod's Deployment (its name past `-0`) -> (READY, STATUS,
    RESTARTS)."""
    rows = ok(mesh, "get", "pod", "-n", namespace).splitlines()[1:]
    found = {}
    for row in rows:
        name, ready, status, count = row.split()[:4]
        found[name.rsplit("-", 1)[0]] = (ready, status, int(count))
    return found


def strict_namespace(mesh: LocalMesh, namespace: str) -> None:
    sh_ok(mesh, f"kubectl create ns {namespace}")
    sh_ok(mesh, f"kubectl apply -f - <<EOF\n{STRICT.format(namespace=namespace)}EOF\n")


def _deployment(sample: str, name: str) -> str:
    """The sample's Deployment alone, as `name` (its labels too; its container keeps its name)."""
    deployment = sample[sample.index("apiVersion: apps/v1") :]
    app = re.search(r"app: (\S+)", deployment)
    assert app is not None
    deployment = deployment.replace(f"app: {app[1]}", f"app: {name}")
    return deployment.replace(f"  name: {app[1]}\n", f"  name: {name}\n", 1)


def test_liveness_command_sample(mesh: LocalMesh, tmp_path: Path) -> None:
    namespace = "istio-io-health"
    strict_namespace(mesh, namespace)
    sample = (DATA / "liveness-command.yaml").read_text()
    sample = sample.replace("/tmp/healthy", f"{tmp_path}/healthy")  # the host's /tmp is shared
    gone = _deployment(sample, "liveness-gone").replace("/healthy", "/healthy-gone")
    gone = gone.replace("sleep 3600", f"sleep 2; rm -f {tmp_path}/healthy-gone; sleep 3600")
    (tmp_path / "liveness-command.yaml").write_text(sample + "---\n" + gone)
    sh_ok(mesh, f"kubectl -n {namespace} apply -f <(istioctl kube-inject -f "
                f"{tmp_path}/liveness-command.yaml)")  # fmt: skip
    # probed 5 s after the start, every 5 s; three failures in a row kill the container
    mesh.wait_for(lambda: restarts(mesh, namespace)["liveness-gone"][2] >= 2, timeout=120,
                  what="the failing pod restarted twice")  # fmt: skip
    pods = restarts(mesh, namespace)
    assert pods["liveness"] == ("2/2", "Running", 0), pods
    assert pods["liveness-gone"][:2] == ("2/2", "Running"), pods
    pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=liveness-gone",
             "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    described = ok(mesh, "describe", "pod", pod, "-n", namespace)
    events = described[described.index("Events:") :]
    missing = f"cat: {tmp_path}/healthy-gone: No such file or directory"
    assert re.search(rf"Warning\s+Unhealthy\s+\S+ \(x\d+ over \S+\)\s+kubelet\s+"
                     rf"Liveness probe failed: {re.escape(missing)}", events), events  # fmt: skip
    assert re.search(r"Normal\s+Killing\s+.*kubelet\s+Container liveness failed liveness probe,"
                     r" will be restarted", events), events  # fmt: skip
    listed = ok(mesh, "get", "events", "-n", namespace)
    assert f"Liveness probe failed: {missing}" in listed, listed
    healthy = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=liveness",
                 "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    assert "Events:" not in ok(mesh, "describe", "pod", healthy, "-n", namespace)
    ok(mesh, "delete", "ns", namespace)


def test_liveness_http_same_port_sample_under_strict_mtls(mesh: LocalMesh, tmp_path: Path) -> None:
    namespace = "istio-same-port"
    strict_namespace(mesh, namespace)
    sample = (DATA / "liveness-http-same-port.yaml").read_text()
    off = '      annotations:\n        sidecar.istio.io/rewriteAppHTTPProbers: "false"\n'
    plain = _deployment(sample, "liveness-plain").replace(
        "      labels:\n", off + "      labels:\n", 1
    )
    missing = _deployment(sample, "liveness-missing").replace("path: /foo", "path: /nope")
    (tmp_path / "same-port.yaml").write_text(sample + "---\n" + plain + "---\n" + missing)
    sh_ok(mesh, f"kubectl -n {namespace} apply -f <(istioctl kube-inject -f "
                f"{tmp_path}/same-port.yaml)")  # fmt: skip
    mesh.wait_for(
        lambda: (
            min(restarts(mesh, namespace)[n][2] for n in ("liveness-plain", "liveness-missing"))
            >= 1
        ),
        timeout=120,
        what="both failing pods restarted",
    )
    pods = restarts(mesh, namespace)
    assert pods["liveness-http"] == ("2/2", "Running", 0), pods  # the rewritten probe passes
    for name in ("liveness-plain", "liveness-missing"):
        assert pods[name][1] == "Running", pods
    # the injector's rewrite, as the istio-proxy container's environment holds it
    pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=liveness-http",
             "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    env = ok(mesh, "exec", pod, "-n", namespace, "-c", "istio-proxy", "--", "env")
    probers = next(line for line in env.splitlines() if line.startswith("ISTIO_KUBE_APP_PROBERS="))
    assert json.loads(probers.partition("=")[2]) == {
        "/app-health/liveness-http/livez": {
            "httpGet": {"path": "/foo", "port": 8001, "scheme": "HTTP"},
            "timeoutSeconds": 1,
        }
    }
    events = ok(mesh, "get", "events", "-n", namespace)
    assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in events, events
    plain_pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=liveness-plain",
                   "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    described = ok(mesh, "describe", "pod", plain_pod, "-n", namespace)
    # not rewritten: a plaintext GET of the pod's port meets its sidecar, which wants mTLS
    assert re.search(r'Liveness probe failed: Get "http://[\d.]+:8001/foo": ', described), described
    assert "Container liveness-http failed liveness probe, will be restarted" in described
    ok(mesh, "delete", "ns", namespace)


def test_startup_probe_holds_readiness_and_restarts_a_container_that_never_starts(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """The HTTP sample's probe as a startupProbe: on a path the app serves, the pod becomes
    Ready; on one it does not, the container is never `started` (READY 1/2), and each run is
    killed after `failureThreshold` failures (the kubelet's "Startup probe failed")."""
    namespace = "startup"
    sh_ok(mesh, f"kubectl create ns {namespace}")
    sample = (DATA / "liveness-http-same-port.yaml").read_text()
    sample = sample.replace("livenessProbe:", "startupProbe:").replace(
        "initialDelaySeconds: 5\n          periodSeconds: 5",
        "periodSeconds: 1\n          failureThreshold: 30",  # Kubernetes' advice: 30 s to start
    )  # fmt: skip
    never = _deployment(sample, "never-started").replace("path: /foo", "path: /nope")
    never = never.replace("failureThreshold: 30", "failureThreshold: 5")
    (tmp_path / "startup.yaml").write_text(sample + "---\n" + never)
    sh_ok(mesh, f"kubectl -n {namespace} apply --no-wait -f <(istioctl kube-inject -f "
                f"{tmp_path}/startup.yaml)")  # fmt: skip
    ok(mesh, "wait", "--for=condition=Ready", "pod", "-l", "app=liveness-http", "-n", namespace,
       "--timeout=60s")  # fmt: skip
    mesh.wait_for(lambda: restarts(mesh, namespace)["never-started"][2] >= 1, timeout=60,
                  what="the container that never starts restarted")  # fmt: skip
    pods = restarts(mesh, namespace)
    assert pods["liveness-http"] == ("2/2", "Running", 0), pods
    assert pods["never-started"][:2] == ("1/2", "Running"), pods
    pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=never-started",
             "-o", "jsonpath={.items[0].status.containerStatuses[0].started}")  # fmt: skip
    assert pod == "false"
    events = ok(mesh, "get", "events", "-n", namespace)
    assert "Startup probe failed: HTTP probe failed with statuscode: 404" in events, events
    assert "Container liveness-http failed startup probe, will be restarted" in events, events
    ok(mesh, "delete", "ns", namespace)


def test_exec_readiness_probe_holds_the_pod_until_it_passes(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """The command sample's probe as a readinessProbe (period 1 s): the pod runs but is not
    Ready (0/2, as for any readiness probe here) while the file is missing; once it exists,
    the pod is Ready."""
    namespace = "ready-exec"
    sh_ok(mesh, f"kubectl create ns {namespace}")
    sample = (DATA / "liveness-command.yaml").read_text()
    sample = sample.replace("touch /tmp/healthy; ", "").replace("/tmp/healthy", f"{tmp_path}/ready")
    sample = sample.replace("livenessProbe:", "readinessProbe:").replace(
        "initialDelaySeconds: 5\n          periodSeconds: 5", "periodSeconds: 1"
    )
    (tmp_path / "ready.yaml").write_text(sample)
    sh_ok(mesh, f"kubectl -n {namespace} apply --no-wait -f <(istioctl kube-inject -f "
                f"{tmp_path}/ready.yaml)")  # fmt: skip
    mesh.wait_for(lambda: restarts(mesh, namespace)["liveness"][1] == "Running", timeout=60,
                  what="the pod running")  # fmt: skip
    waited = mesh.pilotfish("wait", "--for=condition=Ready", "pod", "-l", "app=liveness", "-n",
                            namespace, "--timeout=4s")  # fmt: skip
    assert waited.returncode != 0, waited.stdout  # running, probed, not ready
    assert restarts(mesh, namespace)["liveness"][:2] == ("0/2", "Running")  # as any readiness
    (tmp_path / "ready").write_text("")
    ok(mesh, "wait", "--for=condition=Ready", "pod", "-l", "app=liveness", "-n", namespace,
       "--timeout=60s")  # fmt: skip
    assert restarts(mesh, namespace)["liveness"] == ("2/2", "Running", 0)
    ok(mesh, "delete", "ns", namespace)
