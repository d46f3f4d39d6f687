"""Two of Istio's security tasks on `httpbin` and `sleep` in `foo`, typed as their pages type
them (Istio fidelity): `kubectl` and `istioctl` are `pilotfish`, the pages' samples are Istio's own
files (tests/data/istio-samples), and each command's output is compared with the page's.

- "Copy JWT Claims to HTTP Headers" (Security > Authentication): its set-up (`create ns foo`,
  `label namespace foo istio-injection=enabled`, the samples applied), the `jwt-example`
  RequestAuthentication with `outputClaimToHeaders` (its `jwksUri` is Istio's sample key set on
  GitHub, given inline: `translate.authz.known_jwks`), 401 for `invalidToken`, the token's claims
  printed by the page's `cut | base64 --decode`, 200 with it, and httpbin echoing
  `"X-Jwt-Claim-Foo": "bar"`. The one change: the page fetches `demo.jwt` with curl from GitHub,
  here it is read from tests/data/istio-jwt (never the internet).
- "Explicit Deny" (Security > Authorization): `deny-method-get` (GET 403, POST 200), the same
  policy with `when: request.headers[x-token] notValues [admin]` (admin 200, guest 403), then
  `allow-path-ip` beside it (DENY first: guest on /ip 403; admin on /ip 200, on /get 403).

Each page's steps in its order, on one mesh; the pages' own cleanup (`delete namespace foo`)
ends the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh, sh_ok

SETUP = f"""
kubectl create ns foo
kubectl label namespace foo istio-injection=enabled
kubectl apply -f {SAMPLES}/httpbin.yaml -n foo
kubectl apply -f {SAMPLES}/sleep.yaml -n foo
"""
SLEEP = (
    'kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})"'
    " -c sleep -n foo -- "
)
JWT_EXAMPLE = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
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
    jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.28/security/tools/jwt/samples/jwks.json"
    outputClaimToHeaders:
    - header: "x-jwt-claim-foo"
      claim: "foo"
EOF
"""
TOKEN = "TOKEN=$(cat tests/data/istio-jwt/demo.jwt)"  # the page: curl …/demo.jwt -s
DENY_GET = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: deny-method-get
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
{when}EOF
"""
NOT_ADMIN = """    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
"""
ALLOW_IP = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: allow-path-ip
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: ALLOW
  rules:
  - to:
    - operation:
        paths: ["/ip"]
EOF
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as m:
        add_shims(m)
        sh_ok(m, SETUP)
        yield m
        sh_ok(m, "kubectl delete namespace foo")


def _curl(mesh: LocalMesh, args: str) -> str:
    return sh_ok(mesh, SLEEP + "curl " + args).strip()


def _until(mesh: LocalMesh, args: str, wanted: str) -> str:
    """The page's request, retried as its warning says ("retry after a few seconds")."""
    mesh.wait_for(lambda: _curl(mesh, args) == wanted, 30, f"curl {args} -> {wanted}")
    return wanted


def test_copy_jwt_claims_to_http_headers_as_the_page_runs_it(mesh: LocalMesh) -> None:
    status = '-sS -o /dev/null -w "%{http_code}\\n"'
    assert _until(mesh, f"http://httpbin.foo:8000/ip {status}", "200") == "200"
    sh_ok(mesh, JWT_EXAMPLE)
    invalid = f'"http://httpbin.foo:8000/headers" {status} -H "Authorization: Bearer invalidToken"'
    assert _until(mesh, invalid, "401") == "401"
    claims = sh_ok(mesh, TOKEN + """ && echo "$TOKEN" | cut -d '.' -f2 - | base64 --decode -""")
    assert claims == (
        '{"exp":4685989700,"foo":"bar","iat":1532389700,"iss":"testing@secure.istio.io",'
        '"sub":"testing@secure.istio.io"}'
    )
    valid = '"http://httpbin.foo:8000/headers" -sS -o /dev/null -H "Authorization: Bearer $TOKEN" -w "%{http_code}\\n"'  # noqa: E501
    assert sh_ok(mesh, f"{TOKEN}\n{SLEEP}curl {valid}") == "200\n"
    header = """curl "http://httpbin.foo:8000/headers" -sS -H "Authorization: Bearer $TOKEN" | grep "X-Jwt-Claim-Foo" | sed -e 's/^[ \\t]*//'"""  # noqa: E501
    assert sh_ok(mesh, f"{TOKEN}\n{SLEEP}{header}") == '"X-Jwt-Claim-Foo": "bar"\n'
    sh_ok(mesh, "kubectl -n foo delete requestauthentication jwt-example")


def test_explicit_deny_as_the_page_runs_it(mesh: LocalMesh) -> None:
    def code(path: str, method: str, token: str = "", quiet: str = "-sS") -> str:
        header = f' -H "x-token: {token}"' if token else ""
        return _curl(
            mesh,
            f'"http://httpbin.foo:8000/{path}" -X {method}{header} {quiet} -o /dev/null'
            ' -w "%{http_code}\\n"',
        )

    applied = sh(mesh, DENY_GET.format(when=""))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (code("get", "GET"), code("post", "POST")) == ("403", "200")
    sh_ok(mesh, DENY_GET.format(when=NOT_ADMIN))
    assert (code("get", "GET", "admin"), code("get", "GET", "guest")) == ("200", "403")
    sh_ok(mesh, ALLOW_IP)
    assert [
        code("ip", "GET", "guest", "-s"),
        code("ip", "GET", "admin", "-s"),
        code("get", "GET", "admin", "-s"),
    ] == ["403", "200", "403"]
