"""Istio's "Mutual TLS Migration" task, its set-up steps as written: `create ns foo` and `bar`,
httpbin and sleep applied through `kube-inject`, `create ns legacy` and sleep applied as it is
(so without a sidecar: the namespace has no injection label), in an isolated mesh (root: every
pod in its own network namespace, `curl http://httpbin.foo:8000/ip` as in the task's loop).

Sleep in legacy reaches httpbin.foo in plaintext (200) while it is PERMISSIVE, and is refused
(curl's 000, exit 56: the connection reset) once foo is STRICT. Then the decision is Istio's
webhook's, taken when a pod is created: labelling legacy `istio-injection=enabled` does not
change its running sleep; a pod applied there afterwards gets a sidecar.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import NEEDS_ISOLATION, LocalMesh, pilotfish_ok

pytestmark = [
    pytest.mark.host_network,
    NEEDS_ISOLATION,
]

STRICT_FOO = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec:
  mtls: {mode: STRICT}
"""


_ok = pilotfish_ok


def _injected(mesh: LocalMesh, sample: str) -> str:
    result = mesh.pilotfish("kube-inject", "-f", sample)
    assert result.returncode == 0, result.stderr
    assert "injects sidecars when workloads are applied" in result.stderr, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None, isolated=True)
    try:
        up = mesh.up()
        assert up.returncode == 0, up.stdout + up.stderr
        # applied as kubectl applies (`--no-wait`), so the five pods start together: each pod's
        # start takes seconds here (its app's reverse lookup waits for the resolver), one
        # after the other they took ~35 s
        for ns in ("foo", "bar"):
            assert _ok(mesh, "create", "ns", ns) == f"namespace/{ns} created\n"
            for sample in ("samples/httpbin/httpbin.yaml", "samples/sleep/sleep.yaml"):
                _ok(mesh, "apply", "--no-wait", "-f", "-", "-n", ns, stdin=_injected(mesh, sample))
        _ok(mesh, "create", "ns", "legacy")
        legacy = ("apply", "-f", "samples/sleep/sleep.yaml", "-n", "legacy")
        _ok(mesh, *legacy[:1], "--no-wait", *legacy[1:])
        pods = [f"{p}-0.{ns}" for ns in ("foo", "bar") for p in ("httpbin-v1", "sleep")]
        pods.append("sleep-0.legacy")
        ready = lambda: all(mesh.info["proxies"].get(p, {}).get("ready") for p in pods)  # noqa: E731
        mesh.wait_for(ready, 60, "the task's pods")
        # then as before: `apply` (unchanged) returns once every proxy has ACKed its latest
        # config, so every sidecar has the endpoints of the pods that just turned ready
        assert "rolled out: sleep.legacy" in _ok(mesh, *legacy)
        yield mesh
    finally:
        mesh.down()


def _sleep_pod(mesh: LocalMesh, ns: str) -> str:
    return _ok(
        mesh, "get", "pod", "-l", "app=sleep", "-n", ns, "-o", "jsonpath={.items..metadata.name}"
    )


def _curl(
    mesh: LocalMesh, source: str, target: str, pod: str = ""
) -> subprocess.CompletedProcess[str]:
    """The task's loop body: sleep.<source> (`pod`, else looked up as the task does) ->
    httpbin.<target>:8000/ip, curl's status code."""
    return mesh.pilotfish(
        "exec", pod or _sleep_pod(mesh, source), "-c", "sleep", "-n", source, "--",
        "curl", f"http://httpbin.{target}:8000/ip", "-s", "-o", "/dev/null", "-w", "%{http_code}",
        "--max-time", "5", timeout=60,
    )  # fmt: skip


def _matrix(mesh: LocalMesh) -> dict[str, str]:
    """The task's loop; each source's sleep pod looked up once per round (the pods do not change
    during one: a `pilotfish` command fewer per row)."""
    pods = {s: _sleep_pod(mesh, s) for s in ("foo", "bar", "legacy")}
    return {
        f"sleep.{s} to httpbin.{t}": _curl(mesh, s, t, pods[s]).stdout
        for s in ("foo", "bar", "legacy")
        for t in ("foo", "bar")
    }


def test_legacy_has_no_sidecar_and_the_injected_pods_have_one(mesh: LocalMesh) -> None:
    proxies = mesh.info["proxies"]
    assert proxies["sleep-0.legacy"]["sidecar"] is False
    for ns in ("foo", "bar"):
        assert proxies[f"sleep-0.{ns}"].get("sidecar", True) is True
        assert proxies[f"httpbin-v1-0.{ns}"].get("sidecar", True) is True
    pods = _ok(mesh, "get", "pods", "-n", "legacy")
    assert "1/1" in pods and "2/2" not in pods, pods
    assert "2/2" in _ok(mesh, "get", "pods", "-n", "foo")


def test_plaintext_from_legacy_until_foo_is_strict(mesh: LocalMesh, tmp_path: object) -> None:
    assert set(_matrix(mesh).values()) == {"200"}, _matrix(mesh)
    _ok(mesh, "apply", "-f", "-", stdin=STRICT_FOO)
    try:
        expected = {f"sleep.{s} to httpbin.{t}": "200" for s in ("foo", "bar", "legacy")
                    for t in ("foo", "bar")}  # fmt: skip
        expected["sleep.legacy to httpbin.foo"] = "000"
        mesh.wait_for(lambda: _matrix(mesh) == expected, 30, "STRICT in foo")
        refused = _curl(mesh, "legacy", "foo")
        assert refused.returncode == 56 and refused.stdout == "000", refused
    finally:
        _ok(mesh, "delete", "peerauthentication", "default", "-n", "foo")
    mesh.wait_for(lambda: _curl(mesh, "legacy", "foo").stdout == "200", 30, "PERMISSIVE again")


def test_a_label_changes_pods_created_afterwards_not_running_ones(mesh: LocalMesh) -> None:
    """Istio's "Installing the Sidecar" page: label the namespace, then `kubectl delete pod -l
    app=sleep`: the pod its Deployment creates again has the sidecar."""
    result = mesh.pilotfish("label", "namespace", "legacy", "istio-injection=enabled")
    assert result.returncode == 0 and "namespace/legacy labeled" in result.stdout, result
    assert "created from now on" in result.stderr, result.stderr
    try:
        _ok(mesh, "apply", "-f", "samples/httpbin/httpbin.yaml", "-n", "legacy")
        mesh.wait_for(
            lambda: mesh.info["proxies"].get("httpbin-v1-0.legacy", {}).get("ready"), 60, "httpbin"
        )
        assert mesh.info["proxies"]["httpbin-v1-0.legacy"].get("sidecar", True) is True
        assert mesh.info["proxies"]["sleep-0.legacy"]["sidecar"] is False
        deleted = mesh.pilotfish("delete", "pod", "-n", "legacy", "-l", "app=sleep")
        assert deleted.stdout == 'pod "sleep-0" deleted\n', deleted.stdout + deleted.stderr
        assert mesh.info["proxies"]["sleep-0.legacy"].get("sidecar", True) is True
        pods = mesh.pilotfish("get", "pods", "-n", "legacy", "-l", "app=sleep", "--no-headers")
        assert pods.stdout.split()[:3] == ["sleep-0", "2/2", "Running"], pods.stdout
    finally:
        _ok(mesh, "delete", "-f", "samples/httpbin/httpbin.yaml", "-n", "legacy")
        _ok(mesh, "label", "namespace", "legacy", "istio-injection-")
