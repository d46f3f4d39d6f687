"""Path and host normalization against bypass attempts, through real Envoys and two real backends,
under each MeshConfig `pathNormalization` setting (raw sockets: the exact bytes an attacker sends).

Backends: `guarded` (aiohttp: decodes unreserved escapes, nothing else) and `lenient` (Python's
file server: decodes every escape incl. %2F/%5C, merges slashes, resolves dot segments). Both hold
a secret at /admin. A bypass is the secret coming back. Each row names the weakest setting that
Istio documents as covering it; from that setting on, neither backend may leak the secret. Under
DECODE_AND_MERGE_SLASHES nothing leaks. The rows below a setting's guarantee are measured and
printed (they are what Istio's docs warn about), not asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.authzkit import SECRET, authz_mesh, inbound, raw_http
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh

MODES = ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
BACKENDS = ("guarded", "lenient")
# target -> weakest mode that guarantees no bypass (for a DENY on /admin)
DENY_ATTACKS = {
    "/admin": "NONE",
    "/admin?x": "NONE",
    "/admin#x": "NONE",
    "/Admin": "NONE",
    "/admin;x": "NONE",
    "/admin%00": "NONE",
    "/x/%252e%252e/admin": "NONE",
    "/%252e/admin": "NONE",
    "/%5Cadmin": "NONE",
    "/%5cadmin": "NONE",
    "/%61dmin": "BASE",
    "/./admin": "BASE",
    "/x/../admin": "BASE",
    "/x/%2e%2e/admin": "BASE",
    "/x/%2E%2E/admin": "BASE",
    "/%2e/admin": "BASE",
    "/\\admin": "MERGE_SLASHES",  # BASE turns `\` into `/`: `//admin` then needs merging
    "//admin": "MERGE_SLASHES",
    "/x//../admin": "MERGE_SLASHES",
    "/%2Fadmin": "DECODE_AND_MERGE_SLASHES",
    "/%2fadmin": "DECODE_AND_MERGE_SLASHES",
    "/x/..%2Fadmin": "DECODE_AND_MERGE_SLASHES",
}
# with only `/public` and `/public/*` allowed
ALLOW_ATTACKS = {
    "/admin": "NONE",
    "/public/..%5Cadmin": "NONE",
    "/public%2F..%2Fadmin": "NONE",
    "/public/../admin": "BASE",
    "/public/%2e%2e/admin": "BASE",
    "/public//../admin": "MERGE_SLASHES",
    "/public/..%2Fadmin": "DECODE_AND_MERGE_SLASHES",
    "/public/..%2fadmin": "DECODE_AND_MERGE_SLASHES",
}
DENY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: paths, namespace: default}
spec:
  selector: {matchLabels: {role: guarded}}
  action: DENY
  rules:
  - to:
    - operation: {paths: [/admin]}
"""
ALLOW = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: paths, namespace: default}
spec:
  selector: {matchLabels: {role: guarded}}
  action: ALLOW
  rules:
  - to:
    - operation: {paths: [/public, "/public/*"]}
"""


def mesh_config(mode: str) -> str:
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    pathNormalization:
      normalization: {mode}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with authz_mesh(tmp_path_factory) as started:
        yield started


def _covered(weakest: str, mode: str) -> bool:
    return MODES.index(mode) >= MODES.index(weakest)


def _probe(mesh: LocalMesh, backend: str, target: str) -> tuple[int, bool]:
    answer = raw_http(inbound(mesh, f"{backend}-0"), 8080, target, authority=backend)
    return answer.status, SECRET in answer.body


@pytest.mark.parametrize("mode", MODES)
def test_no_path_bypass(mesh: LocalMesh, tmp_path: Path, mode: str) -> None:
    apply_yaml(mesh, tmp_path, mesh_config(mode), "mesh.yaml")
    report: list[str] = []
    leaks: list[str] = []
    for scenario, policy, attacks in (
        ("DENY", DENY, DENY_ATTACKS),
        ("ALLOW", ALLOW, ALLOW_ATTACKS),
    ):
        apply_yaml(mesh, tmp_path, policy, f"{scenario}.yaml")
        for backend in BACKENDS:
            for target, weakest in attacks.items():
                status, leaked = _probe(mesh, backend, target)
                report.append(f"{mode:25} {scenario:5} {backend:8} {target:24} {status} {leaked}")
                if leaked and _covered(weakest, mode):
                    leaks.append(f"{scenario} {backend} {target} -> {status}")
        if scenario == "ALLOW":
            assert _probe(mesh, "lenient", "/public/page")[0] == 200
        if scenario == "DENY":
            assert _probe(mesh, "guarded", "/public")[0] == 200
            assert _probe(mesh, "guarded", "/admin") == (403, False)
            if mode != "NONE":
                assert _probe(mesh, "guarded", "/admin%00")[0] == 400
    print("\n".join(report))
    assert not leaks, f"bypass under {mode}: {leaks}"


HOSTS = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: hosts, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules:
  - to:
    - operation: {hosts: [httpbin], methods: [GET]}
"""


@pytest.mark.parametrize(
    "authority", ["httpbin", "HTTPBIN", "HttpBin", "httpbin:8000", "httpbin.", "HTTPBIN.:8000"]
)
def test_no_host_bypass(mesh: LocalMesh, tmp_path: Path, authority: str) -> None:
    apply_yaml(mesh, tmp_path, HOSTS, "hosts.yaml")
    ip = inbound(mesh, "httpbin-0")
    assert raw_http(ip, 8080, "/get", authority=authority).status == 403
    # the method is matched exactly, as Envoy sees it (`get` is another method, not GET)
    assert raw_http(ip, 8080, "/get", authority="other").status == 200
