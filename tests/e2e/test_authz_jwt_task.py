"""Istio's "JWT Token" authorization task with its own YAML and tokens: Istio's httpbin and curl
samples in `foo`, the `jwt-example` RequestAuthentication whose `jwksUri` is Istio's sample key
set on GitHub (given inline, never fetched: `translate.authz.known_jwks`), Istio's `demo.jwt` and
`groups-scope.jwt` (tests/data/istio-jwt), and the page's status codes: 401 for an invalid token,
200 without one, then `require-jwt` (403 without, 200 with), then the `groups` claim (200 for
group1's token, 403 for the other). A `jwksUri` that only looks like it (another path or host)
still gets no key: the same tokens are refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok, running_mesh

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
TOKENS = ROOT / "tests" / "data" / "istio-jwt"
JWKS = "https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json"
REQUEST_AUTHN = """apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "{uri}"
"""
REQUIRE_JWT = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: ALLOW
  rules:
  - from:
    - source:
       requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
"""
GROUP_CLAIM = """    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
"""


_ok = pilotfish_ok


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as running:
        _ok(running, "create", "ns", "foo")
        _ok(running, "label", "namespace", "foo", "istio-injection=enabled")
        _ok(running, "apply", "-f", str(SAMPLES / "httpbin.yaml"), "-n", "foo")
        _ok(running, "apply", "-f", str(SAMPLES / "curl.yaml"), "-n", "foo")
        yield running


def _status(mesh: LocalMesh, token: str | None = None) -> str:
    path = "jsonpath={.items..metadata.name}"
    curl = _ok(mesh, "get", "pod", "-l", "app=curl", "-n", "foo", "-o", path).strip()
    auth = ["-H", f"Authorization: Bearer {token}"] if token is not None else []
    return _ok(
        mesh, "exec", curl, "-c", "curl", "-n", "foo", "--", "curl",
        "http://httpbin.foo:8000/headers", "-sS", "-o", "/dev/null", *auth,
        "-w", "%{http_code}\n",
    ).strip()  # fmt: skip


def test_the_jwt_token_task_with_istios_keys_and_tokens(mesh: LocalMesh) -> None:
    token = (TOKENS / "demo.jwt").read_text().strip()
    token_group = (TOKENS / "groups-scope.jwt").read_text().strip()
    _ok(mesh, "apply", "-f", "-", stdin=REQUEST_AUTHN.format(uri=JWKS))
    assert _status(mesh, "invalidToken") == "401"
    assert _status(mesh) == "200"
    assert _status(mesh, token) == "200"
    _ok(mesh, "apply", "-f", "-", stdin=REQUIRE_JWT)
    assert _status(mesh, token) == "200"
    assert _status(mesh) == "403"
    _ok(mesh, "apply", "-f", "-", stdin=REQUIRE_JWT + GROUP_CLAIM)
    assert _status(mesh, token_group) == "200"
    assert _status(mesh, token) == "403"


@pytest.mark.parametrize(
    "uri",
    [
        "https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/keys.json",
        "https://raw.githubusercontent.com.evil.example/istio/istio/master/security/tools/jwt/"
        "samples/jwks.json",
        "https://example.com/istio/istio/master/security/tools/jwt/samples/jwks.json",
    ],
)
def test_a_look_alike_uri_gets_no_key(mesh: LocalMesh, uri: str) -> None:
    """An attacker's key set at another URI is never fetched nor replaced by Istio's: the
    page's valid tokens are refused (401), as any token for that issuer."""
    applied = mesh.pilotfish("apply", "-f", "-", stdin=REQUEST_AUTHN.format(uri=uri))
    assert applied.returncode == 0, applied.stderr
    assert "is not a service of the mesh" in applied.stderr
    for token in ("demo.jwt", "groups-scope.jwt"):
        assert _settles_to(mesh, (TOKENS / token).read_text().strip(), "401") == "401", token


def _settles_to(mesh: LocalMesh, token: str, want: str, timeout: float = 30) -> str:
    """The status a request with `token` gets once the last change is in force, or the last one
    seen after `timeout`. A RequestAuthentication change replaces the server sidecar's inbound
    listener (its jwt_authn filter), and the client sidecar's keep-alive connections finish on
    the old one while it drains, as in Istio: the previous test's key set and `groups` policy
    may still answer (403, or 200) for a moment. A key set that stayed in force would keep
    answering so, and fail."""
    deadline = time.monotonic() + timeout
    while True:
        status = _status(mesh, token)
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.5)
