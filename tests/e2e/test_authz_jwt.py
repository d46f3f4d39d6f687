"""RequestAuthentication (+ AuthorizationPolicy on request principals and claims) end to end:
Istio's "JWT Token" task on httpbin, with the JWKS fetched by Envoy from a mesh service, and every
token an attacker might try, each answered with the status Istio gives.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.authzkit import inbound, policy, raw_http
from tests.e2e.httpkit import apply_yaml, delete_yaml
from tests.e2e.meshctl import ROOT, LocalMesh


def _sample_generator() -> Any:
    """samples/jwt/gen_jwt.py, the sample's own token maker (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("gen_jwt", ROOT / "samples/jwt/gen_jwt.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _sample_generator()
ISSUER: str = GEN.ISSUER
make_token, new_key = GEN.make_token, GEN.new_key
KEY = GEN.load_key(ROOT / "samples" / "jwt" / "key.pem")
DEMO = (ROOT / "samples" / "jwt" / "demo.jwt").read_text().strip()
GROUPS = (ROOT / "samples" / "jwt" / "groups-scope.jwt").read_text().strip()
EXPIRED = (ROOT / "samples" / "jwt" / "expired.jwt").read_text().strip()

REQUEST_AUTHENTICATION = f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt-example, namespace: default}}
spec:
  selector: {{matchLabels: {{app: httpbin}}}}
  jwtRules:
  - issuer: {ISSUER}
    jwksUri: http://jwks.default.svc.cluster.local:8000/jwks.json
    fromHeaders:
    - {{name: authorization, prefix: "Bearer "}}
    - {{name: x-jwt-assertion}}
    fromParams: [my_token]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{{header: x-jwt-sub, claim: sub}}]
    forwardOriginalToken: true
  - issuer: aud-issuer
    audiences: [httpbin]
    jwksUri: http://jwks.default.svc.cluster.local:8000/jwks.json
"""
REQUIRE_PRINCIPAL = policy("require-jwt", "ALLOW", f"""\
  - from:
    - source: {{requestPrincipals: ["{ISSUER}/{ISSUER}"]}}
""")  # fmt: skip
REQUIRE_GROUP = policy("require-jwt", "ALLOW", """\
  - from:
    - source: {requestPrincipals: ["*"]}
    when:
    - key: request.auth.claims[groups]
      values: [group1]
""")  # fmt: skip


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    """The authz group's mesh (tests/e2e/shared_meshes.py) with the module's
    RequestAuthentication, deleted after it."""
    folder = tmp_path_factory.mktemp("jwt")
    apply_yaml(shared_mesh, folder, REQUEST_AUTHENTICATION)
    yield shared_mesh
    delete_yaml(shared_mesh, folder, REQUEST_AUTHENTICATION)


def get(
    mesh: LocalMesh, target: str = "/headers", token: str = "", **kw: object
) -> tuple[int, str]:
    headers = list(kw.pop("headers", ()))  # type: ignore[call-overload]
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    answer = raw_http(inbound(mesh, "httpbin-0"), 8080, target, headers=tuple(headers))
    return answer.status, answer.body


def test_valid_token_and_outputs(mesh: LocalMesh) -> None:
    # the first request makes Envoy fetch the JWKS from the jwks service
    mesh.wait_for(lambda: get(mesh, token=DEMO)[0] == 200, 20, "JWKS fetched, token accepted")
    status, body = get(mesh, token=DEMO)
    assert status == 200
    headers = json.loads(body)["headers"]
    # Istio's requirement names the provider twice (alone, and inside the AND), so Envoy may
    # add the claim and payload headers once per evaluation: every value is the token's
    assert set(headers["X-Jwt-Sub"].split(",")) == {ISSUER}
    payloads = headers["X-Jwt-Payload"].split(",")
    assert {json.loads(_b64(p.strip()))["iss"] for p in payloads} == {ISSUER}
    assert headers["Authorization"] == f"Bearer {DEMO}"  # forwardOriginalToken
    assert get(mesh, headers=(("x-jwt-assertion", DEMO),))[0] == 200
    assert get(mesh, f"/headers?my_token={DEMO}")[0] == 200


def _b64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("expired", EXPIRED),
        ("not yet valid", make_token(KEY, {"nbf": int(time.time()) + 3600})),
        ("bad signature", make_token(new_key(), {})),
        ("alg none", make_token(None, {}, alg="none")),
        ("unknown issuer", make_token(KEY, {"iss": "https://evil.example"})),
        ("garbage", "not.a.jwt"),
    ],
)
def test_invalid_token_is_rejected(mesh: LocalMesh, name: str, token: str) -> None:
    mesh.wait_for(lambda: get(mesh, token=DEMO)[0] == 200, 20, "JWKS fetched")
    assert get(mesh, token=token)[0] == 401, name


def test_audiences(mesh: LocalMesh) -> None:
    """A verified token for another audience is refused with 403, as Istio answers it."""
    mesh.wait_for(lambda: get(mesh, token=DEMO)[0] == 200, 20, "JWKS fetched")
    assert get(mesh, token=make_token(KEY, {"iss": "aud-issuer", "aud": "other"}))[0] == 403
    assert get(mesh, token=make_token(KEY, {"iss": "aud-issuer"}))[0] == 403
    token = make_token(KEY, {"iss": "aud-issuer", "aud": ["other", "httpbin"]})
    assert get(mesh, token=token)[0] == 200


def test_two_tokens(mesh: LocalMesh) -> None:
    """A valid and an invalid token: the invalid one fails the request (no `first wins`)."""
    mesh.wait_for(lambda: get(mesh, token=DEMO)[0] == 200, 20, "JWKS fetched")
    assert get(mesh, token=DEMO, headers=(("x-jwt-assertion", EXPIRED),))[0] == 401
    assert get(mesh, token=EXPIRED, headers=(("x-jwt-assertion", DEMO),))[0] == 401


def test_missing_token_and_required_principal(mesh: LocalMesh, tmp_path: Path) -> None:
    mesh.wait_for(lambda: get(mesh, token=DEMO)[0] == 200, 20, "JWKS fetched")
    assert get(mesh)[0] == 200  # no token, no policy: allowed
    # a token where no rule looks is no token at all (the second rule has no locations, so it
    # looks where Envoy looks by default: `Authorization: Bearer` and `?access_token=`)
    elsewhere = (("x-token", DEMO), ("cookie", f"session={DEMO}"))
    assert get(mesh, headers=elsewhere)[0] == 200
    assert get(mesh, f"/headers?access_token={DEMO}")[0] == 401  # default location, wrong issuer
    apply_yaml(mesh, tmp_path, REQUIRE_PRINCIPAL, "require.yaml")
    try:
        assert get(mesh)[0] == 403
        assert get(mesh, headers=elsewhere)[0] == 403
        assert get(mesh, token=DEMO)[0] == 200
        assert get(mesh, token=make_token(KEY, {"iss": "aud-issuer", "aud": "httpbin"}))[0] == 403
        assert get(mesh, token=EXPIRED)[0] == 401
        apply_yaml(mesh, tmp_path, REQUIRE_GROUP, "groups.yaml")
        assert get(mesh, token=GROUPS)[0] == 200  # list-typed claim contains group1
        assert get(mesh, token=DEMO)[0] == 403
        assert get(mesh, token=make_token(KEY, {"groups": "group1"}))[0] == 200  # string claim
        nested = make_token(KEY, {"groups": ["group2"]})
        assert get(mesh, token=nested)[0] == 403
    finally:
        delete_yaml(mesh, tmp_path, REQUIRE_PRINCIPAL)
