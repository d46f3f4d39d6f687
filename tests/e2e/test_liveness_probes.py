"""Istio's "Health Checking of Istio Services" page (istio.io/latest/docs/ops/configuration/mesh/
app-health-check/) with the kubelet's liveness probes, through real processes: Istio's
`samples/health-check/liveness-command.yaml` and `liveness-http-same-port.yaml` applied as the
page applies them (`kubectl apply -f <(istioctl kube-inject -f …)`), in namespaces with STRICT
mutual TLS.

- the command sample's `exec` probe (`cat /tmp/healthy`) passes: `2/2 Running 0`; the same pod
  whose file goes away (the Kubernetes page's `rm -f /tmp/healthy`) is killed and restarted by
  its probe at once, killed again and then backs off (`1/2 CrashLoopBackOff 1 (Ns ago)`, the
  kubelet's 10 s), and `get events` shows the kubelet's words (Unhealthy,
  Killing, BackOff). Local mode shares the host's /tmp: the file is in the test's own folder;
- a container that ignores SIGTERM, killed by its probe, is SIGKILLed after the pod's
  terminationGracePeriodSeconds, or its probe's own (exit code 137), and stopped with its pod
  after the pod's;
- the HTTP sample's `httpGet` probe on the app's own port passes under STRICT mTLS (RESTARTS 0)
  because Istio's injector rewrote it to the agent's `/app-health/liveness-http/livez` on 15020
  (the istio-proxy container's ISTIO_KUBE_APP_PROBERS shows it); the same pod annotated
  `sidecar.istio.io/rewriteAppHTTPProbers: "false"` is probed by the kubelet in plaintext through
  its sidecar and fails (restarted); a probe of a path the app does not serve fails with
  "HTTP probe failed with statuscode: 404";
- fortio's gRPC port serves grpc.health.v1: `grpc:` readiness and liveness probes pass (rewritten,
  through the agent), a service it does not know fails in the kubelet's words; a probe not
  rewritten goes through the sidecar's inbound: it passes in plaintext, then fails once the
  namespace is STRICT (the pod unready, the rewritten one still ready);
- the HTTP sample's probe as a startupProbe holds readiness (1/2, `started: false`) and
  restarts a container that never starts; the command sample's as a readinessProbe holds the
  pod until its file exists.

One mesh for the module; the passing and failing pods of each sample run side by side.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import BOTH_MODES, ROOT, LocalMesh
from tests.e2e.pagekit import add_shims, sh_ok

from pilotfish.local.client import pid_alive

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


def _listed(mesh: LocalMesh, args: list[str]) -> bool:
    return bool(ok(mesh, *args).strip())


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
    # probed 5 s after the start, every 5 s; three failures in a row kill the container: its
    # first restart is at once, after its second kill it backs off (the kubelet's 10 s)
    seen: list[dict[str, Any]] = []  # the pod as `get -o json` shows it once it backs off

    def backing_off() -> bool:
        listed = json.loads(ok(mesh, "get", "pod", "-n", namespace, "-l", "app=liveness-gone",
                               "-o", "json"))  # fmt: skip
        seen[:] = listed["items"]
        state = seen[0]["status"]["containerStatuses"][0]["state"]
        return bool(state.get("waiting", {}).get("reason") == "CrashLoopBackOff")

    mesh.wait_for(backing_off, timeout=120, what="the failing pod backing off")
    pod = seen[0]["metadata"]["name"]
    pods = restarts(mesh, namespace)  # within its 10 s back-off
    assert pods["liveness"] == ("2/2", "Running", 0), pods
    assert pods["liveness-gone"] == ("1/2", "CrashLoopBackOff", 1), pods
    row = next(r for r in ok(mesh, "get", "pod", "-n", namespace).splitlines() if "gone" in r)
    assert re.search(r"\s\d+ \(\d+s ago\)\s", row), row  # kubectl's RESTARTS
    status = seen[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["message"].startswith(
        f"back-off 10s restarting failed container=liveness pod={pod}_{namespace}("
    )
    assert status["lastState"]["terminated"]["exitCode"] == 143  # SIGTERM: sh exits on it
    assert status["lastState"]["terminated"]["reason"] == "Error"
    # its events (`describe pod` finds no pod out of the registry, as while it backs off)
    listed = ok(mesh, "get", "events", "-n", namespace)
    events = "\n".join(e for e in listed.splitlines() if f"pod/{pod} " in e)
    missing = f"cat: {tmp_path}/healthy-gone: No such file or directory"
    assert re.search(rf"Warning\s+Unhealthy\s+pod/{pod}\s+Liveness probe failed: "
                     rf"{re.escape(missing)} \(x\d+\)", events), events  # fmt: skip
    assert re.search(r"Normal\s+Killing\s+\S+\s+Container liveness failed liveness probe,"
                     r" will be restarted", events), events  # fmt: skip
    assert re.search(rf"Warning\s+BackOff\s+\S+\s+Back-off restarting failed container "
                     rf"liveness in pod {pod}_{namespace}\(\S+\)", events), events  # fmt: skip
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
    for name in ("liveness-plain", "liveness-missing"):  # restarted, maybe killed again since
        assert pods[name][1] in ("Running", "CrashLoopBackOff"), pods
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
    # (its events: `describe pod` finds no pod out of the registry, as while it backs off)
    plain = "\n".join(e for e in events.splitlines() if f"pod/{plain_pod} " in e)
    # not rewritten: a plaintext GET of the pod's port meets its sidecar, which wants mTLS
    assert re.search(r'Liveness probe failed: Get "http://[\d.]+:8001/foo": ', plain), plain
    assert "Container liveness-http failed liveness probe, will be restarted" in plain
    ok(mesh, "delete", "ns", namespace)


_NOT_FOUND = "Startup probe failed: HTTP probe failed with statuscode: 404"


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
    never = never.replace("failureThreshold: 30", "failureThreshold: 8")
    (tmp_path / "startup.yaml").write_text(sample + "---\n" + never)
    sh_ok(mesh, f"kubectl -n {namespace} apply --no-wait -f <(istioctl kube-inject -f "
                f"{tmp_path}/startup.yaml)")  # fmt: skip
    listed = ["get", "pod", "-n", namespace, "-l", "app=liveness-http", "-o", "name"]
    mesh.wait_for(functools.partial(_listed, mesh, listed), timeout=60, what="the pod")
    ok(mesh, "wait", "--for=condition=Ready", "pod", "-l", "app=liveness-http", "-n", namespace,
       "--timeout=60s")  # fmt: skip
    # A loaded machine can time the first probes out while the app and its agent start, and
    # failureThreshold of those kill the container before the app ever answered 404: wait for
    # both the kill and the 404, which a later run shows
    mesh.wait_for(lambda: restarts(mesh, namespace)["never-started"][2] >= 1
                  and _NOT_FOUND in ok(mesh, "get", "events", "-n", namespace), timeout=90,
                  what="the container that never starts restarted after a 404")  # fmt: skip
    pods = restarts(mesh, namespace)
    assert pods["liveness-http"] == ("2/2", "Running", 0), pods
    assert pods["never-started"][0] == "1/2", pods  # its istio-proxy ready, itself never
    assert pods["never-started"][1] in ("Running", "CrashLoopBackOff"), pods  # killed again?
    pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=never-started",
             "-o", "jsonpath={.items[0].status.containerStatuses[0].started}")  # fmt: skip
    assert pod == "false"
    events = ok(mesh, "get", "events", "-n", namespace)
    assert _NOT_FOUND in events, events
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


STUBBORN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: {pod}
      containers:
      - name: stubborn
        image: registry.k8s.io/busybox
        args: [/bin/sh, -c, 'trap "" TERM; while true; do sleep 1; done']
{probe}"""
FAILING = """\
        livenessProbe:
          exec: {command: ["false"]}
          periodSeconds: 1
          failureThreshold: 1
"""


def test_a_kill_waits_the_grace_period_before_sigkill(mesh: LocalMesh, tmp_path: Path) -> None:
    """A container that ignores SIGTERM and fails its liveness probe at once: each run lasts
    the grace period, then SIGKILL (exit code 137): the pod's terminationGracePeriodSeconds
    (6 s), or the probe's own (6 s, over the pod's 1 s). Deleting the namespace stops a pod
    after its drain and its grace period (6 s), not before."""
    namespace = "grace"
    sh_ok(mesh, f"kubectl create ns {namespace}")
    pods = STUBBORN.format(name="pod-grace", pod=6, probe=FAILING)
    own = FAILING + "          terminationGracePeriodSeconds: 6\n"
    pods += "---\n" + STUBBORN.format(name="probe-grace", pod=1, probe=own)
    pods += "---\n" + STUBBORN.format(name="stop-grace", pod=6, probe="")  # never killed
    (tmp_path / "stubborn.yaml").write_text(pods)
    ok(mesh, "apply", "--no-wait", "-n", namespace, "-f", str(tmp_path / "stubborn.yaml"))

    def ended() -> list[dict[str, Any]]:
        listed = json.loads(ok(mesh, "get", "pods", "-n", namespace, "-o", "json"))
        return [p["status"]["containerStatuses"][0] for p in listed["items"]]

    mesh.wait_for(lambda: sum(s["restartCount"] >= 1 for s in ended()) == 2, timeout=60,
                  what="both pods killed once")  # fmt: skip
    for status in [s for s in ended() if s["restartCount"]]:
        last = status["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (137, "Error"), status
        began, done = (
            datetime.datetime.fromisoformat(last[k].replace("Z", "+00:00"))
            for k in ("startedAt", "finishedAt")
        )
        assert 5 <= (done - began).total_seconds() <= 9, status  # 6 s, to the second
    row = next(r for k, r in mesh.info["proxies"].items() if k.startswith("stop-grace"))
    pid = int(row["app_pid"])
    started = time.monotonic()
    ok(mesh, "delete", "ns", namespace)
    mesh.wait_for(lambda: not pid_alive(pid), timeout=30, what="the pod's app stopped")
    # its sidecar drains (terminationDrainDuration, 0 s in tests), then its app has 6 s from
    # SIGTERM to SIGKILL
    assert time.monotonic() - started >= 6


FORTIO = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{sidecar.istio.io/rewriteAppHTTPProbers: "{rewrite}"}}
    spec:
      containers:
      - name: fortio
        image: fortio/fortio:latest_release
        ports:
        - {{containerPort: 8080, name: http-fortio}}
        - {{containerPort: 8079, name: grpc-ping}}
        readinessProbe:
          grpc: {{port: 8079}}
          periodSeconds: 1
{liveness}"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports:
  - {{port: 8079, name: grpc-ping}}
"""
LIVENESS = """\
        livenessProbe:
          grpc: {{port: 8079, service: {service}}}
          periodSeconds: 1
          failureThreshold: 2
"""


def test_grpc_probes_against_fortios_health_server(mesh: LocalMesh, tmp_path: Path) -> None:
    """fortio's gRPC port serves grpc.health.v1: its `grpc:` readiness and liveness probes pass
    (the rewritten ones through the agent's 15020); a probe not rewritten reaches the app
    through its sidecar's inbound (plaintext, the namespace PERMISSIVE): its readiness passes,
    a liveness probe of a service fortio does not know fails in the kubelet's words (a
    rewritten one would fail as HTTP 500, the agent's answer) and restarts it; once the
    namespace is STRICT the plaintext probe fails and its pod is no longer ready, while the
    rewritten one stays ready."""
    namespace = "grpc-probes"
    sh_ok(mesh, f"kubectl create ns {namespace}")
    pods = [
        FORTIO.format(name="rewritten", rewrite="true", liveness=LIVENESS.format(service="ping")),
        FORTIO.format(name="plain", rewrite="false", liveness=""),
        SERVICE.format(name="plain"),  # its gRPC port, where its sidecar takes it in
        FORTIO.format(name="unknown", rewrite="false", liveness=LIVENESS.format(service="nope")),
        SERVICE.format(name="unknown"),
    ]
    (tmp_path / "fortio.yaml").write_text("---\n".join(pods))
    sh_ok(mesh, f"kubectl -n {namespace} apply --no-wait -f <(istioctl kube-inject -f "
                f"{tmp_path}/fortio.yaml)")  # fmt: skip
    for app in ("rewritten", "plain"):  # `apply --no-wait`: the pods may not exist yet
        listed = ["get", "pod", "-n", namespace, "-l", f"app={app}", "-o", "name"]
        mesh.wait_for(functools.partial(_listed, mesh, listed), timeout=60, what=app)
        ok(mesh, "wait", "--for=condition=Ready", "pod", "-l", f"app={app}", "-n", namespace,
           "--timeout=60s")  # fmt: skip
    mesh.wait_for(lambda: restarts(mesh, namespace)["unknown"][2] >= 1, timeout=60,
                  what="the pod probing an unknown service restarted")  # fmt: skip
    events = ok(mesh, "get", "events", "-n", namespace)
    assert ("Liveness probe failed: error: health rpc probe failed: rpc error: code = NotFound "
            "desc = unknown service") in events, events  # fmt: skip
    pod = ok(mesh, "get", "pod", "-n", namespace, "-l", "app=rewritten",
             "-o", "jsonpath={.items[0].metadata.name}")  # fmt: skip
    env = ok(mesh, "exec", pod, "-n", namespace, "-c", "istio-proxy", "--", "env")
    probers = next(line for line in env.splitlines() if line.startswith("ISTIO_KUBE_APP_PROBERS="))
    assert json.loads(probers.partition("=")[2]) == {
        "/app-health/fortio/livez": {
            "grpc": {"port": 8079, "service": "ping"},
            "timeoutSeconds": 1,
        },
        "/app-health/fortio/readyz": {"grpc": {"port": 8079}, "timeoutSeconds": 1},
    }
    sh_ok(mesh, f"kubectl apply -f - <<EOF\n{STRICT.format(namespace=namespace)}EOF\n")
    mesh.wait_for(lambda: restarts(mesh, namespace)["plain"][0] == "0/2", timeout=60,
                  what="the plaintext probe failing at the STRICT sidecar")  # fmt: skip
    pods_now = restarts(mesh, namespace)
    assert pods_now["rewritten"] == ("2/2", "Running", 0), pods_now
    ok(mesh, "delete", "ns", namespace)
