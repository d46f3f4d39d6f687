"""Pods of several containers, as Kubernetes runs them, in both modes pods run in here (sharing
the host's network, and `up --isolated`: a network namespace per pod, root only).

Istio's `samples/extauthz/local-ext-authz.yaml` applied unchanged (httpbin and the sample
authorizer in one pod, with the ServiceEntries `ext-authz-http.local` / `ext-authz-grpc.local`
at 127.0.0.1), and the External Authorization task's local variant: providers naming those
hosts, a CUSTOM policy on httpbin's `/headers`, `x-ext-authz: allow` passes and anything else is
denied, as an attacker tries it (other spellings, the authorizer's answer forged). Then what a
user sees of such a pod: `get pods` READY 3/3, each container in `get pod -o yaml`, `logs -c`,
kubectl's default container, `exec -c` with that container's env, each container reaching the
others on localhost, a killed container restarted (RESTARTS), a pod's `restartPolicy: Never`
container left terminated with its exit code, and every process gone once the pod is deleted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import BOTH_MODES, ROOT, LocalMesh

from pilotfish.local.client import pid_alive

DATA = ROOT / "tests/data/istio-samples"
DENY_BODY = "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
GO_LOG = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d "

# The task's providers, pointing at the authorizer inside httpbin's own pod
PROVIDERS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    extensionProviders:
    - name: "sample-ext-authz-grpc"
      envoyExtAuthzGrpc:
        service: "ext-authz-grpc.local"
        port: "9000"
    - name: "sample-ext-authz-http"
      envoyExtAuthzHttp:
        service: "ext-authz-http.local"
        port: "8000"
        includeRequestHeadersInCheck: ["x-ext-authz"]
        headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
"""

POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ext-authz}}
spec:
  selector:
    matchLabels: {{app: httpbin}}
  action: CUSTOM
  provider: {{name: {provider}}}
  rules:
  - to:
    - operation:
        paths: ["/headers"]
"""

ONE_SHOT = """\
apiVersion: v1
kind: Pod
metadata: {name: batch, labels: {app: batch}}
spec:
  restartPolicy: Never
  containers:
  - name: server
    image: docker.io/kong/httpbin
    ports: [{containerPort: 8081}]  # sharing the host's loopback, httpbin's 8080 is taken
  - name: job
    image: docker.io/library/busybox
    args: [sh, -c, "echo job ran; exit 3"]
"""

PROBED = """\
apiVersion: v1
kind: Pod
metadata: {{name: probed, labels: {{app: probed}}}}
spec:
  containers:
  - name: web
    image: docker.io/kong/httpbin
    ports: [{{containerPort: 8084}}]
  - name: helper
    image: docker.io/kong/httpbin
    ports: [{{containerPort: 8085}}]
    readinessProbe: {{httpGet: {{path: "/status/{status}", port: 8085}}}}
"""


@pytest.fixture(
    scope="module",
    params=BOTH_MODES,
)
def mesh(tmp_path_factory: pytest.TempPathFactory, request: Any) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None, isolated=request.param == "isolated")
    try:
        result = mesh.up()
        assert result.returncode == 0, result.stdout + result.stderr
        ok(mesh, "create", "ns", "foo")
        ok(mesh, "label", "ns", "foo", "istio-injection=enabled")
        ok(mesh, "apply", "-f", str(DATA / "curl.yaml"), "-n", "foo")
        applied = ok(mesh, "apply", "-f", str(DATA / "local-ext-authz.yaml"), "-n", "foo")
        assert "deployment.apps/httpbin created" in applied, applied
        ok(mesh, "wait", "--for=condition=Ready", "pod", "-l", "app=httpbin", "-n", "foo",
           "--timeout=60s")  # fmt: skip
        yield mesh
    finally:
        mesh.down()


def ok(mesh: LocalMesh, *args: str, stdin: str | None = None) -> str:
    result = mesh.pilotfish(*args, stdin=stdin)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def pod_of(mesh: LocalMesh, app: str) -> str:
    return ok(mesh, "get", "pod", "-l", f"app={app}", "-n", "foo", "-o",
              "jsonpath={.items..metadata.name}")  # fmt: skip


def curl(mesh: LocalMesh, *args: str) -> str:
    """`kubectl exec "$(kubectl get pod -l app=curl …)" -c curl -n foo -- curl …`"""
    return ok(mesh, "exec", pod_of(mesh, "curl"), "-c", "curl", "-n", "foo", "--", "curl", *args)


def status(mesh: LocalMesh, *args: str) -> str:
    return curl(mesh, "-s", "-o", "/dev/null", "-w", "%{http_code}", *args)


def test_the_pod_shows_its_three_containers(mesh: LocalMesh) -> None:
    pod = pod_of(mesh, "httpbin")
    listed = ok(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin")
    assert re.search(rf"^{pod}\s+3/3\s+Running\s+0\s", listed, re.M), listed
    spec = json.loads(ok(mesh, "get", "pod", pod, "-n", "foo", "-o", "json"))
    assert [c["name"] for c in spec["spec"]["containers"]] == [
        "httpbin",
        "ext-authz",
        "istio-proxy",
    ]
    statuses = spec["status"]["containerStatuses"]
    assert all(s["ready"] and "running" in s["state"] for s in statuses), statuses
    notes = spec["metadata"]["annotations"]
    assert notes["kubectl.kubernetes.io/default-container"] == "httpbin"  # Istio's injector's


def test_logs_pick_a_container_as_kubectl_does(mesh: LocalMesh) -> None:
    pod = pod_of(mesh, "httpbin")
    started = ok(mesh, "logs", pod, "-n", "foo", "-c", "ext-authz")
    assert re.search(f"^{GO_LOG}Starting HTTP server at \\S+:8000$", started, re.M), started
    assert re.search(f"^{GO_LOG}Starting gRPC server at \\S+:9000$", started, re.M), started
    default = mesh.pilotfish("logs", pod, "-n", "foo")  # the default container: httpbin
    assert default.returncode == 0 and "Starting HTTP server" not in default.stdout, default
    assert default.stderr == ""
    wrong = mesh.pilotfish("logs", pod, "-n", "foo", "-c", "nope")
    assert wrong.returncode == 1
    assert f"Error from server (BadRequest): container nope is not valid for pod {pod}" in (
        wrong.stderr
    )
    every = ok(mesh, "logs", pod, "-n", "foo", "--all-containers")
    assert "Starting gRPC server" in every


def test_containers_share_the_pods_network_and_keep_their_own_env(mesh: LocalMesh) -> None:
    """Each container reaches the others on localhost at their container ports; each gets the
    env its own container declares (httpbin's WORKON_HOME is not the authorizer's)."""
    pod = pod_of(mesh, "httpbin")

    def in_pod(container: str, *argv: str) -> str:
        return ok(mesh, "exec", pod, "-n", "foo", "-c", container, "--", *argv)

    check = in_pod("httpbin", "curl", "-s", "--noproxy", "*", "-H", "x-ext-authz: allow", "-o",
                   "/dev/null", "-w", "%{http_code}", "http://localhost:8000/")  # fmt: skip
    assert check == "200"
    denied = in_pod("httpbin", "curl", "-s", "--noproxy", "*", "http://127.0.0.1:8000/")
    assert denied == DENY_BODY
    served = in_pod("ext-authz", "curl", "-s", "--noproxy", "*", "http://127.0.0.1:8080/ip")
    assert "origin" in json.loads(served)
    assert "WORKON_HOME=/tmp" in in_pod("httpbin", "env").splitlines()
    assert "WORKON_HOME=/tmp" not in in_pod("ext-authz", "env").splitlines()
    wrong = mesh.pilotfish("exec", pod, "-n", "foo", "-c", "nope", "--", "true")
    assert wrong.returncode == 1 and "container nope is not valid" in wrong.stderr


@pytest.mark.parametrize("provider", ["sample-ext-authz-grpc", "sample-ext-authz-http"])
def test_the_tasks_local_authorizer_allows_and_denies(mesh: LocalMesh, provider: str) -> None:
    headers = "http://httpbin.foo:8000/headers"
    ok(mesh, "apply", "-f", "-", stdin=PROVIDERS)
    ok(mesh, "apply", "-n", "foo", "-f", "-", stdin=POLICY.format(provider=provider))
    try:
        assert curl(mesh, headers, "-H", "x-ext-authz: deny", "-s") == DENY_BODY
        seen = json.loads(curl(mesh, headers, "-H", "x-ext-authz: allow", "-s"))["headers"]
        assert seen["X-Ext-Authz-Check-Result"] == "allowed", seen
        # the header's name in any case is the same header; its value is the authorizer's to
        # judge, and it wants `allow` exactly
        assert status(mesh, headers, "-H", "X-EXT-AUTHZ: allow") == "200"
        assert status(mesh, headers, "-H", "x-ext-authz: Allow") == "403"
        assert status(mesh, headers, "-H", "x-ext-authz: allow ") == "200"  # trimmed by HTTP
        assert status(mesh, headers) == "403"
        # an attacker forges the authorizer's answer: still checked, still refused; once
        # allowed, the app sees the authorizer's answer, not the forged one
        forged = "x-ext-authz-check-result: allowed"
        assert status(mesh, headers, "-H", forged) == "403"
        sent = json.loads(curl(mesh, headers, "-s", "-H", "x-ext-authz: allow", "-H",
                               "x-ext-authz-check-result: forged"))["headers"]  # fmt: skip
        assert sent["X-Ext-Authz-Check-Result"] == "allowed", sent
        for path in ("/headers?x=1", "/./headers", "/x/../headers", "/%68eaders"):
            assert status(mesh, f"http://httpbin.foo:8000{path}") == "403", path
        assert status(mesh, "http://httpbin.foo:8000/ip") == "200"  # not selected: unchecked
        tag = "[gRPCv3]" if provider.endswith("grpc") else "[HTTP]"
        logs = ok(mesh, "logs", pod_of(mesh, "httpbin"), "-n", "foo", "-c", "ext-authz")
        assert f"{tag}[denied]" in logs and f"{tag}[allowed]" in logs, logs
        assert "/ip" not in logs
    finally:
        ok(mesh, "delete", "-n", "foo", "-f", "-", stdin=POLICY.format(provider=provider))


def _containers(mesh: LocalMesh, pod: str) -> dict[str, Any]:
    return dict(mesh.proxy(f"{pod}.foo").get("containers") or {})


def test_a_killed_container_restarts_and_counts(mesh: LocalMesh) -> None:
    pod = pod_of(mesh, "httpbin")
    before = _containers(mesh, pod)["ext-authz"]
    os.kill(int(before["pid"]), signal.SIGKILL)
    mesh.wait_for(
        lambda: (_containers(mesh, pod)["ext-authz"].get("pid") or before["pid"]) != before["pid"],
        timeout=30,
    )
    ok(mesh, "wait", "--for=condition=Ready", "pod", pod, "-n", "foo", "--timeout=60s")
    listed = ok(mesh, "get", "pods", "-n", "foo", "-l", "app=httpbin")
    assert re.search(rf"^{pod}\s+3/3\s+Running\s+1 \(", listed, re.M), listed
    spec = json.loads(ok(mesh, "get", "pod", pod, "-n", "foo", "-o", "json"))
    counts = {s["name"]: s["restartCount"] for s in spec["status"]["containerStatuses"]}
    assert counts == {"httpbin": 0, "ext-authz": 1, "istio-proxy": 0}
    previous = ok(mesh, "logs", pod, "-n", "foo", "-c", "ext-authz", "--previous")
    assert "Starting gRPC server" in previous


def test_restart_policy_never_leaves_a_container_terminated(mesh: LocalMesh) -> None:
    ok(mesh, "apply", "--no-wait", "-n", "foo", "-f", "-", stdin=ONE_SHOT)  # it never is ready
    try:

        def ended() -> bool:
            row = mesh.info["proxies"].get("batch.foo") or {}
            return bool(((row.get("containers") or {}).get("job") or {}).get("done"))

        mesh.wait_for(ended, timeout=60)
        spec = json.loads(ok(mesh, "get", "pod", "batch", "-n", "foo", "-o", "json"))
        job = next(s for s in spec["status"]["containerStatuses"] if s["name"] == "job")
        assert job["state"]["terminated"]["exitCode"] == 3, job
        assert job["state"]["terminated"]["reason"] == "Error"
        assert job["restartCount"] == 0 and not job["ready"]
        listed = ok(mesh, "get", "pods", "-n", "foo", "batch")
        assert re.search(r"^batch\s+2/3\s+Error\s+0\s", listed, re.M), (listed, spec)
        assert ok(mesh, "logs", "batch", "-n", "foo", "-c", "job") == "job ran\n"
    finally:
        ok(mesh, "delete", "-n", "foo", "-f", "-", stdin=ONE_SHOT)


def test_each_containers_readiness_probe_holds_the_pod(mesh: LocalMesh) -> None:
    """A readiness probe of a container past the first is run (in an isolated pod by the agent
    inside it, `/app-health/helper/readyz` on 15020, as Istio's agent serves every
    container's): failing, the pod is not Ready; passing, it is."""
    failing = PROBED.format(status=503)
    ok(mesh, "apply", "--no-wait", "-n", "foo", "-f", "-", stdin=failing)
    try:
        mesh.wait_for(lambda: "probed.foo" in mesh.info["proxies"], timeout=30)
        row = mesh.info["proxies"]["probed.foo"]
        mesh.wait_for(lambda: (mesh.proxy("probed.foo").get("containers") or {})["helper"]["pid"])
        time.sleep(3)  # running, probed, and still not ready
        assert not mesh.proxy("probed.foo")["ready"], row
        waited = mesh.pilotfish("wait", "--for=condition=Ready", "pod", "probed", "-n", "foo",
                                "--timeout=3s")  # fmt: skip
        assert waited.returncode != 0, waited.stdout
    finally:
        ok(mesh, "delete", "-n", "foo", "-f", "-", stdin=failing)
    passing = PROBED.format(status=200)
    ok(mesh, "apply", "-n", "foo", "-f", "-", stdin=passing)
    try:
        ok(mesh, "wait", "--for=condition=Ready", "pod", "probed", "-n", "foo", "--timeout=60s")
        listed = ok(mesh, "get", "pods", "-n", "foo", "probed")
        assert re.search(r"^probed\s+3/3\s+Running\s", listed, re.M), listed
    finally:
        ok(mesh, "delete", "-n", "foo", "-f", "-", stdin=passing)


SAME_PORTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: pair}
spec:
  replicas: 2
  selector: {matchLabels: {app: pair}}
  template:
    metadata: {labels: {app: pair}}
    spec:
      containers:
      - name: web
        image: docker.io/library/busybox
        args: [sleep, "3600"]
        ports: [{containerPort: 8086}]
      - name: helper
        image: docker.io/library/busybox
        args: [sleep, "3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: second, labels: {app: second}}
spec:
  containers:
  - name: web
    image: docker.io/library/busybox
    args: [sleep, "3600"]
  - name: authz
    image: docker.io/library/busybox
    args: [sleep, "3600"]
    ports: [{containerPort: 8000}]  # httpbin's pod's ext-authz has it
"""


def test_two_pods_on_one_port_of_the_hosts_loopback_are_refused(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Sharing the host's network, a sidecar's pod of several containers listens on 127.0.0.1
    at its container ports (its containers reach each other there), as a hostNetwork pod: a
    second such pod on one of its ports, or a second replica, would fail to bind and restart
    forever. Apply refuses the change whole, naming file, line and field; an isolated mesh (a
    namespace per pod) takes it."""
    path = tmp_path / "same-ports.yaml"
    path.write_text(SAME_PORTS)
    applied = mesh.pilotfish("apply", "--no-wait", "-n", "foo", "-f", str(path))
    if mesh.isolated:
        assert applied.returncode == 0, applied.stdout + applied.stderr
        ok(mesh, "delete", "-n", "foo", "-f", str(path))
        return
    assert applied.returncode != 0, applied.stdout
    said = applied.stdout + applied.stderr
    assert (
        f"{path}:14: Deployment pair at spec.template.spec.containers[0].ports[0].containerPort:"
        " 8086: its 2 replicas would each listen on the host's 127.0.0.1:8086" in said
    ), said
    assert (
        f"{path}:30: Pod second at spec.containers[1].ports[0].containerPort: 8000 is taken on "
        "the host's 127.0.0.1 by Deployment foo/httpbin" in said
    ), said
    for kind in ("deployment/pair", "pod/second"):  # nothing of the change was kept
        assert mesh.pilotfish("get", kind, "-n", "foo").returncode != 0


def test_deleting_the_pod_stops_every_container(mesh: LocalMesh) -> None:
    pod = pod_of(mesh, "httpbin")
    row = mesh.proxy(f"{pod}.foo")
    pids = [int(row["app_pid"]), *(int(c["pid"]) for c in row["containers"].values())]
    assert all(pid_alive(p) for p in pids)
    ok(mesh, "delete", "-n", "foo", "-f", str(DATA / "local-ext-authz.yaml"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(pid_alive(p) for p in pids), pids
