"""Path and host normalization against bypass attempts, through real Envoys and two real backends,
under each MeshConfig `pathNormalization` setting (raw sockets: the exact bytes an attacker sends).

Backends: `guarded` (aiohttp: decodes unreserved escapes, nothing else) and `lenient` (Python's
file server: decodes every escape incl. %2F/%5C, merges slashes, resolves dot segments). Both hold
a secret at /admin. Each setting forwards what Istio forwards, but a proxy whose policies match on
paths also checks them on the fully normalized path (`translate.authz.path_view`): so every row
gives the same answer under every setting (the status asserted below; one exception where the
settings forward another path) and never the secret.
Istio itself lets rows marked `# Istio: <setting>` through under the settings weaker than that one
(its docs leave them to the operator); `/Admin` and `;` rows pass Istio under every setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.authzkit import SECRET, inbound, raw_http
from tests.e2e.httpkit import apply_yaml, delete_yaml
from tests.e2e.meshctl import LocalMesh

MODES = ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
BACKENDS = ("guarded", "lenient")
HEADER = "x-pilotfish-authz-path"  # the fully normalized view Envoy computes (never the client)
# with a DENY on /admin: target -> status under every setting, on both backends
DENY_ROWS = {
    "/admin": 403,
    "/admin?x": 403,
    "/admin#x": 400,  # Envoy refuses a fragment in the request-target
    "/Admin": 403,  # Istio: never (case-sensitive); an app may ignore case
    "/admin;x": 403,  # Istio: never; servlet containers drop `;` parameters
    "/admin%00": 400,
    "/x/%252e%252e/admin": 404,  # decoded once, as the backends do: not /admin
    "/%252e/admin": 404,
    "/%5Cadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/%5cadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/%61dmin": 403,  # Istio: BASE
    "/./admin": 403,  # Istio: BASE
    "/x/../admin": 403,  # Istio: BASE
    "/x/%2e%2e/admin": 403,  # Istio: BASE
    "/x/%2E%2E/admin": 403,  # Istio: BASE
    "/%2e/admin": 403,  # Istio: BASE
    "/\\admin": 403,  # Istio: MERGE_SLASHES (BASE turns `\` into `/`, `//admin` needs merging)
    "//admin": 403,  # Istio: MERGE_SLASHES
    "/x//../admin": 403,  # Istio: BASE
    "/%2Fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/%2fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/x/..%2Fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
}
# with only `/public` and `/public/*` allowed: every row is denied
ALLOW_ROWS = {
    "/admin": 403,
    "/Public": 403,
    "/public/..%5Cadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/public%2F..%2Fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/public/..;/admin": 403,  # Istio: never
    "/public/../admin": 403,  # Istio: BASE
    "/public/%2e%2e/admin": 403,  # Istio: BASE
    "/public//../admin": 403,  # Istio: BASE
    "/public/..%2Fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
    "/public/..%2fadmin": 403,  # Istio: DECODE_AND_MERGE_SLASHES
}
# every setting but NONE forwards `/x/admin` for `/x//../admin` (Envoy resolves dot segments before
# merging slashes: `..` pops the empty segment): not /admin, the app answers 404 -- the view
# checked is the path the app receives
NORMALIZED_ELSEWHERE = {"/x//../admin": 404, "/public//../admin": 404}
# (backend, target) -> 200 with both policies: what the policies let through still works
ALLOWED = (("guarded", "/public"), ("lenient", "/public/page"), ("lenient", "/public/./page"))
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
AUTHORITIES = ("httpbin", "HTTPBIN", "HttpBin", "httpbin:8000", "httpbin.", "HTTPBIN.:8000")


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
def mesh(shared_mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    """The authz group's mesh (tests/e2e/shared_meshes.py); the mesh config and policies the
    tests apply are deleted after the module."""
    yield shared_mesh
    folder = tmp_path_factory.mktemp("normalization")
    delete_yaml(shared_mesh, folder, "---".join((mesh_config("NONE"), ALLOW, HOSTS)))


def _probe(
    mesh: LocalMesh, backend: str, target: str, headers: tuple[tuple[str, str], ...] = ()
) -> tuple[int, str]:
    answer = raw_http(
        inbound(mesh, f"{backend}-0"), 8080, target, authority=backend, headers=headers
    )
    return answer.status, answer.body


def _rows(mesh: LocalMesh, mode: str, scenario: str, rows: dict[str, int]) -> list[str]:
    wrong = []
    for backend in BACKENDS:
        for target, expected in rows.items():
            if mode != "NONE":
                expected = NORMALIZED_ELSEWHERE.get(target, expected)
            status, body = _probe(mesh, backend, target)
            if SECRET in body or status != expected:
                leak = " LEAKED THE SECRET" if SECRET in body else ""
                wrong.append(f"{mode} {scenario} {backend} {target}: {status}{leak}")
        for backend, target in ALLOWED:
            status, _ = _probe(mesh, backend, target)
            if status != 200:
                wrong.append(f"{mode} {scenario} {backend} {target}: {status}, not 200")
    return wrong


def _forged(mesh: LocalMesh, scenario: str) -> list[str]:
    """A client's own copies of the internal header change nothing, and never reach the app."""
    wrong = []
    cases = [("/admin", "/public", 403), ("/public", "/admin", 200)]
    if scenario == "ALLOW":
        cases = [("/admin", "/public", 403), ("/public/..%2Fadmin", "/public/x", 403)]
    for target, forged, expected in cases:
        for name in (HEADER, HEADER.upper()):
            status, body = _probe(mesh, "guarded", target, ((name, forged), (name, forged)))
            if status != expected or SECRET in body:
                wrong.append(f"{scenario} forged {name}: {forged} on {target}: {status}")
    status, body = _probe(mesh, "guarded", "/public/headers", ((HEADER, "/public/x"),))
    if status != 200 or HEADER in body.lower() or "x-forwarded-proto" not in body.lower():
        wrong.append(f"{scenario}: the app saw the internal header or no headers: {body!r}")
    return wrong


@pytest.mark.parametrize("mode", MODES)
def test_no_bypass(mesh: LocalMesh, tmp_path: Path, mode: str) -> None:
    apply_yaml(mesh, tmp_path, mesh_config(mode), "mesh.yaml")
    wrong: list[str] = []
    for scenario, policy, rows in (("DENY", DENY, DENY_ROWS), ("ALLOW", ALLOW, ALLOW_ROWS)):
        apply_yaml(mesh, tmp_path, policy, f"{scenario}.yaml")
        wrong += _rows(mesh, mode, scenario, rows)
        wrong += _forged(mesh, scenario)
    apply_yaml(mesh, tmp_path, HOSTS, "hosts.yaml")
    ip = inbound(mesh, "httpbin-0")
    for authority in AUTHORITIES:
        status = raw_http(ip, 8080, "/get", authority=authority).status
        if status != 403:
            wrong.append(f"{mode} host {authority}: {status}")
    # the method is matched exactly, as Envoy sees it, and another host is not denied
    assert raw_http(ip, 8080, "/get", authority="other").status == 200
    assert not wrong, "\n".join(wrong)
