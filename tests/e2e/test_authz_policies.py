"""AuthorizationPolicy end to end through real Envoys: Istio's "HTTP Traffic", "Explicit Deny" and
"TCP Traffic" flows on httpbin/sleep/tcp-echo, allow-nothing and allow-all, dry-run, source IPs,
and identities that a plaintext connection can never claim (fail closed).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.authzkit import inbound, policy, raw_http
from tests.e2e.httpkit import SidecarClient, apply_yaml, delete_yaml
from tests.e2e.meshctl import LocalMesh

DENIED = "RBAC: access denied"


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> LocalMesh:
    """The authz group's mesh (tests/e2e/shared_meshes.py)."""
    return shared_mesh


@pytest.fixture
def policies(mesh: LocalMesh, tmp_path: Path) -> Iterator[list[str]]:
    """Policies applied by a test (YAML texts), deleted after it."""
    applied: list[str] = []
    yield applied
    for index, text in enumerate(applied):
        delete_yaml(mesh, tmp_path, text, f"delete-{index}.yaml")


def apply(mesh: LocalMesh, tmp_path: Path, policies: list[str], text: str) -> None:
    apply_yaml(mesh, tmp_path, text, f"policy-{len(policies)}.yaml")
    policies.append(text)


def httpbin(mesh: LocalMesh, target: str, **kw: object) -> tuple[int, str]:
    answer = raw_http(inbound(mesh, "httpbin-0"), 8080, target, **kw)  # type: ignore[arg-type]
    return answer.status, answer.body


def via_sleep(
    mesh: LocalMesh, path: str, method: str = "GET", instance: str = "sleep-0", **kw: object
) -> int:
    """Through a sleep pod's sidecar, which talks mutual TLS to httpbin's (auto mTLS)."""
    client = SidecarClient(mesh, instance)
    return client.request(f"http://httpbin.default:8000{path}", method=method, **kw).status  # type: ignore[arg-type]


def test_no_policy_allows_everything(mesh: LocalMesh) -> None:
    assert httpbin(mesh, "/get")[0] == 200
    assert via_sleep(mesh, "/get") == 200


def test_allow_nothing_then_allow_get(mesh: LocalMesh, tmp_path: Path, policies: list[str]) -> None:
    apply(mesh, tmp_path, policies, """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: default}
spec: {}
""")  # fmt: skip
    status, body = httpbin(mesh, "/get")
    assert (status, body) == (403, DENIED)
    assert via_sleep(mesh, "/headers") == 403
    apply(mesh, tmp_path, policies, policy("httpbin-viewer", "ALLOW", """\
  - to:
    - operation:
        methods: [GET]
        paths: [/get, "/status/*", "/anything/{*}/info"]
"""))  # fmt: skip
    assert httpbin(mesh, "/get")[0] == 200
    assert httpbin(mesh, "/status/201")[0] == 201
    assert httpbin(mesh, "/anything/x/info")[0] == 200
    assert httpbin(mesh, "/anything/x/y/info") == (403, DENIED)
    assert httpbin(mesh, "/get", method="POST") == (403, DENIED)
    assert httpbin(mesh, "/headers") == (403, DENIED)
    assert via_sleep(mesh, "/get") == 200
    assert via_sleep(mesh, "/get", method="DELETE") == 403
    # other workloads are still under allow-nothing
    guarded = raw_http(inbound(mesh, "guarded-0"), 8080, "/public", authority="guarded")
    assert (guarded.status, guarded.body) == (403, DENIED)


def test_explicit_deny(mesh: LocalMesh, tmp_path: Path, policies: list[str]) -> None:
    """Istio's "Explicit Deny" task: deny GET with `x-token: admin`, then deny every path but
    /ip, then an ALLOW next to the DENY."""
    apply(mesh, tmp_path, policies, policy("deny-method-get", "DENY", """\
  - to:
    - operation: {methods: [GET]}
    when:
    - key: request.headers[x-token]
      values: [admin]
"""))  # fmt: skip
    assert httpbin(mesh, "/get", headers=(("x-token", "admin"),)) == (403, DENIED)
    assert httpbin(mesh, "/get", headers=(("x-token", "guest"),))[0] == 200
    assert httpbin(mesh, "/post", method="POST", headers=(("x-token", "admin"),))[0] == 200
    # a second header with the same name does not hide the first
    repeated = (("x-token", "guest"), ("x-token", "admin"))
    assert httpbin(mesh, "/get", headers=repeated)[0] == 403
    apply(mesh, tmp_path, policies, policy("deny-path-not-ip", "DENY", """\
  - to:
    - operation: {notPaths: [/ip]}
"""))  # fmt: skip
    assert httpbin(mesh, "/ip")[0] == 200
    assert httpbin(mesh, "/get") == (403, DENIED)
    apply(mesh, tmp_path, policies, policy("allow-path-ip", "ALLOW", """\
  - to:
    - operation: {paths: [/ip, /get]}
"""))  # fmt: skip
    assert httpbin(mesh, "/ip")[0] == 200
    assert httpbin(mesh, "/get") == (403, DENIED)  # DENY is evaluated first
    assert httpbin(mesh, "/ip", headers=(("x-token", "admin"),)) == (403, DENIED)


def test_source_ip_blocks(mesh: LocalMesh, tmp_path: Path, policies: list[str]) -> None:
    apply(mesh, tmp_path, policies, policy("only-from", None, """\
  - from:
    - source: {ipBlocks: [127.201.0.0/16], notIpBlocks: [127.201.0.9]}
"""))  # fmt: skip
    assert httpbin(mesh, "/get", source="127.201.3.4")[0] == 200
    assert httpbin(mesh, "/get", source="127.201.0.9") == (403, DENIED)
    assert httpbin(mesh, "/get", source="127.202.0.1") == (403, DENIED)
    # a forged X-Forwarded-For does not change the connection's address
    forged = (("x-forwarded-for", "127.201.3.4"),)
    assert httpbin(mesh, "/get", source="127.202.0.1", headers=forged) == (403, DENIED)


def test_principals_never_match_plaintext(
    mesh: LocalMesh, tmp_path: Path, policies: list[str]
) -> None:
    """`principals`/`namespaces` name the peer certificate: a plaintext connection has none, so
    an ALLOW on them admits nothing and forged identity headers do not help."""
    apply(mesh, tmp_path, policies, policy("only-sleep", None, """\
  - from:
    - source: {principals: ["*"]}
  - from:
    - source: {namespaces: [default]}
"""))  # fmt: skip
    forged = (
        ("x-forwarded-client-cert", "By=spiffe://cluster.local/ns/default/sa/httpbin;"
         "URI=spiffe://cluster.local/ns/default/sa/sleep"),
    )  # fmt: skip
    assert httpbin(mesh, "/get", headers=forged) == (403, DENIED)


def test_dry_run_is_counted_not_enforced(
    mesh: LocalMesh, tmp_path: Path, policies: list[str]
) -> None:
    apply(mesh, tmp_path, policies, """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry-run-deny
  namespace: default
  annotations: {istio.io/dry-run: "true"}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules:
  - to:
    - operation: {paths: [/headers]}
""")  # fmt: skip
    admin = SidecarClient(mesh, "httpbin-0")
    name = "http.inbound_0.0.0.0_8080.rbac.istio_dry_run_deny_.shadow_denied"
    before = admin.stat(name)
    assert httpbin(mesh, "/headers")[0] == 200
    assert httpbin(mesh, "/get")[0] == 200
    mesh.wait_for(
        lambda: admin.stat(name) == before + 1, 10, f"shadow denial counter: {admin.stats('rbac')}"
    )


def _tcp_echo(mesh: LocalMesh) -> str:
    """One line through tcp-echo's inbound listener; '' when the connection is refused/closed."""
    try:
        with socket.create_connection((inbound(mesh, "tcp-echo-0"), 9000), timeout=5) as conn:
            conn.sendall(b"hello\n")
            return conn.makefile("rb").readline().decode().strip()
    except OSError:
        return ""


def test_tcp_fail_safe(mesh: LocalMesh, tmp_path: Path, policies: list[str]) -> None:
    """Istio's "TCP Traffic" task: ports work on TCP; HTTP-only fields make an ALLOW rule match
    nothing and a DENY rule match everything, and `apply` says so."""
    assert _tcp_echo(mesh) == "one hello"
    allow_port = policy("tcp-policy", "ALLOW", """\
  - to:
    - operation: {ports: ["9000"]}
""", app="tcp-echo")  # fmt: skip
    apply(mesh, tmp_path, policies, allow_port)
    assert _tcp_echo(mesh) == "one hello"
    path = tmp_path / "tcp-methods.yaml"
    path.write_text(allow_port.replace('{ports: ["9000"]}', '{methods: [GET], ports: ["9000"]}'))
    result = mesh.apply(str(path))
    assert "HTTP-only" in result.stdout + result.stderr
    assert _tcp_echo(mesh) == ""
    path.write_text(allow_port.replace("action: ALLOW", "action: DENY").replace(
        '{ports: ["9000"]}', '{paths: [/admin], ports: ["9000"]}'))  # fmt: skip
    result = mesh.apply(str(path))
    assert "HTTP-only" in result.stdout + result.stderr
    assert _tcp_echo(mesh) == ""


def test_principals_and_namespaces_over_mtls(
    mesh: LocalMesh, tmp_path: Path, policies: list[str]
) -> None:
    """Istio's "HTTP Traffic" service-account step: the peer certificate's SPIFFE id decides."""
    apply(mesh, tmp_path, policies, policy("from-sleep", None, """\
  - from:
    - source: {principals: [cluster.local/ns/default/sa/sleep]}
    to:
    - operation: {methods: [GET]}
"""))  # fmt: skip
    assert via_sleep(mesh, "/get") == 200
    assert via_sleep(mesh, "/get", method="POST") == 403
    assert via_sleep(mesh, "/get", instance="sleep-other-0") == 403  # other namespace's sleep
    assert httpbin(mesh, "/get") == (403, DENIED)  # plaintext: no identity at all
    apply(mesh, tmp_path, policies, policy("from-other", None, """\
  - from:
    - source: {namespaces: [other]}
    when:
    - key: source.principal
      values: ["*/sa/sleep"]
"""))  # fmt: skip
    assert via_sleep(mesh, "/get", instance="sleep-other-0") == 200
    assert via_sleep(mesh, "/headers", instance="sleep-other-0") == 200
    assert via_sleep(mesh, "/headers", method="POST", instance="sleep-other-0") == 200
    assert via_sleep(mesh, "/headers", method="POST") == 403  # default's sleep: GET only
    apply(mesh, tmp_path, policies, policy("deny-other", "DENY", """\
  - from:
    - source: {notNamespaces: [default]}
"""))  # fmt: skip
    assert via_sleep(mesh, "/get", instance="sleep-other-0") == 403
    assert via_sleep(mesh, "/get") == 200
    # DENY on notNamespaces also catches the identity-less plaintext caller
    assert httpbin(mesh, "/get") == (403, DENIED)


def test_deny_under_load_is_never_bypassed_once_acknowledged(
    mesh: LocalMesh, tmp_path: Path, policies: list[str]
) -> None:
    """Requests keep flowing through sleep's sidecar (kept-alive mTLS connections to httpbin's)
    while a DENY is applied: every request started after `apply` returned (all Envoys ACKed) is
    denied, none sees the old policy."""
    stop = threading.Event()
    results: list[tuple[float, int]] = []

    def hammer() -> None:
        client = SidecarClient(mesh, "sleep-0")
        while not stop.is_set():
            started = time.monotonic()
            status = client.request("http://httpbin.default:8000/get").status
            results.append((started, status))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        mesh.wait_for(lambda: sum(s == 200 for _, s in results) >= 20, 20, "traffic flowing")
        apply(mesh, tmp_path, policies, policy("deny-get", "DENY", """\
  - to:
    - operation: {methods: [GET]}
"""))  # fmt: skip
        acknowledged = time.monotonic()
        mesh.wait_for(
            lambda: sum(t > acknowledged for t, _ in results) >= 40, 30, "traffic after the DENY"
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=20)
    after = [status for started, status in results if started > acknowledged]
    assert after and set(after) == {403}, sorted(set(after))
