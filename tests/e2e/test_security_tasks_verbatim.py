"""Istio's security tasks typed as their pages type them (Istio fidelity: the project is checked
from outside with Istio's files): each page's shell text runs in bash with `kubectl` and
`istioctl` standing for `pilotfish`, its outputs compared with the page's. The one change: the
pages' `samples/httpbin/httpbin.yaml` and `samples/sleep/sleep.yaml` are Istio's own files, kept
in tests/data/istio-samples (this repository's samples/ holds pilotfish's shorthand for them).

- "Authorization for HTTP traffic": Bookinfo from Istio's kube manifest, `allow-nothing` (RBAC:
  access denied), the four viewer policies in turn (productpage's errors for details and
  reviews, then the ratings error, then the whole page), and the page's cleanup, which names
  each policy `authorizationpolicy.security.istio.io/NAME` and ends with `--ignore-not-found`.
- "Authentication Policy": foo and bar with sidecars, legacy without, the page's 3x3 curl loop
  (sleep in legacy reaches every httpbin by its service name, as a pod without a sidecar does
  through cluster DNS and kube-proxy), `get peerauthentication --all-namespaces` saying "No
  resources found", then the namespace-wide STRICT policy with the page's
  `000` row and kubectl's `command terminated with exit code 56` (the mesh-wide policy's rows
  are the same mechanism; `test_mtls_migration_injection` runs them in an isolated mesh).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh, sh_ok

SETUP = f"""
kubectl create ns foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/httpbin.yaml) -n foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/sleep.yaml) -n foo
kubectl create ns bar
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/httpbin.yaml) -n bar
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/sleep.yaml) -n bar
kubectl create ns legacy
kubectl apply -f {SAMPLES}/httpbin.yaml -n legacy
kubectl apply -f {SAMPLES}/sleep.yaml -n legacy
"""
MATRIX = """
for from in "foo" "bar" "legacy"; do for to in "foo" "bar" "legacy"; do kubectl exec "$(kubectl get pod -l app=sleep -n ${from} -o jsonpath={.items..metadata.name})" -c sleep -n ${from} -- curl "http://httpbin.${to}:8000/ip" -s -o /dev/null -w "sleep.${from} to httpbin.${to}: %{http_code}\\n"; done; done
"""  # noqa: E501 (the page's one line)
STRICT = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: "default"
  namespace: "{namespace}"
spec:
  mtls:
    mode: STRICT
EOF
"""
NAMESPACES = ("foo", "bar", "legacy")
ALL_200 = [f"sleep.{a} to httpbin.{b}: 200" for a in NAMESPACES for b in NAMESPACES]
VIEWER = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: "{app}-viewer"
  namespace: default
spec:
  selector:
    matchLabels:
      app: {app}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/{account}"]
    to:
    - operation:
        methods: ["GET"]
EOF
"""
HTTP_CLEANUP = """
kubectl delete authorizationpolicy.security.istio.io/allow-nothing
kubectl delete authorizationpolicy.security.istio.io/productpage-viewer
kubectl delete authorizationpolicy.security.istio.io/details-viewer
kubectl delete authorizationpolicy.security.istio.io/reviews-viewer
kubectl delete authorizationpolicy.security.istio.io/ratings-viewer
kubectl delete authorizationpolicy.security.istio.io/bookinfo-gateway-viewer --ignore-not-found
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as m:
        add_shims(m)
        yield m


def test_authorization_for_http_traffic_as_the_page_runs_it(mesh: LocalMesh) -> None:
    sh_ok(mesh, "kubectl apply -f samples/bookinfo/platform/kube/bookinfo.yaml")
    sh_ok(mesh, "kubectl apply -f samples/bookinfo/networking/bookinfo-gateway.yaml")
    mesh.wait_for(lambda: "Reviewer1" in mesh.get("/productpage").body, 60, "productpage")
    policy = "kubectl apply -f - <<EOF\napiVersion: security.istio.io/v1\n"
    policy += "kind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: default\n"
    sh_ok(mesh, policy + "spec:\n  {}\nEOF\n")
    assert mesh.get("/productpage").body == "RBAC: access denied"
    sh_ok(
        mesh,
        policy.replace("allow-nothing", '"productpage-viewer"')
        + """spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - to:
    - operation:
        methods: ["GET"]
EOF
""",
    )
    page = mesh.get("/productpage").body
    assert "Error fetching product details!" in page and "Error fetching product reviews!" in page
    sh_ok(mesh, VIEWER.format(app="details", account="bookinfo-productpage"))
    page = mesh.get("/productpage").body
    assert (
        "Error fetching product details!" not in page and "Error fetching product reviews!" in page
    )
    sh_ok(mesh, VIEWER.format(app="reviews", account="bookinfo-productpage"))
    assert "Error fetching product reviews!" not in mesh.get("/productpage").body
    unrated = "Ratings service is currently unavailable"  # reviews v2 and v3 call ratings
    mesh.wait_for(lambda: unrated in mesh.get("/productpage").body, 30, "the ratings error")
    sh_ok(mesh, VIEWER.format(app="ratings", account="bookinfo-reviews"))
    page = mesh.get("/productpage").body
    assert "unavailable" not in page and "Error fetching" not in page, page
    # the page's cleanup, verbatim: TYPE.GROUP/NAME, and a policy that is not there
    cleanup = sh(mesh, HTTP_CLEANUP)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert cleanup.stdout.count(" deleted") == 5 and cleanup.stderr == "", cleanup
    none = sh(mesh, "kubectl get authorizationpolicy")
    assert none.returncode == 0 and none.stderr == "No resources found in default namespace.\n"
    missing = sh(mesh, "kubectl delete authorizationpolicy.security.istio.io/allow-nothing")
    assert missing.returncode == 1, missing
    expected = (
        'Error from server (NotFound): authorizationpolicies.security.istio.io "allow-nothing"'
    )
    assert missing.stderr == expected + " not found\n", missing.stderr
    assert "Reviewer1" in mesh.get("/productpage").body


def _refused(row: str, strict: tuple[str, ...]) -> str:
    """The page's row when the httpbins of `strict` refuse sleep in legacy: curl's 000."""
    refused = any(row == f"sleep.legacy to httpbin.{ns}: 200" for ns in strict)
    return row.replace(": 200", ": 000") if refused else row


def _matrix(mesh: LocalMesh) -> tuple[list[str], str]:
    result = sh(mesh, MATRIX)
    return result.stdout.splitlines(), result.stderr


def test_authentication_policy_as_the_page_runs_it(mesh: LocalMesh) -> None:
    setup = sh(mesh, SETUP)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    rows, errors = _matrix(mesh)
    assert rows == ALL_200 and errors == "", (rows, errors)
    none = sh(mesh, "kubectl get peerauthentication --all-namespaces")
    assert none.returncode == 0 and none.stdout == "" and none.stderr == "No resources found\n"
    # namespace-wide STRICT (`apply` returns once every proxy has it): foo refuses legacy
    sh_ok(mesh, STRICT.format(namespace="foo"))
    rows, errors = _matrix(mesh)
    assert rows == [_refused(r, ("foo",)) for r in ALL_200], rows
    assert errors == "command terminated with exit code 56\n", errors
    sh_ok(mesh, "kubectl delete peerauthentication default -n foo")


ENDUSER_ROUTE = """
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: httpbin-gateway
  namespace: foo
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
EOF
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
  namespace: foo
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - route:
    - destination:
        port:
          number: 8000
        host: httpbin.foo.svc.cluster.local
EOF
"""
JWT_EXAMPLE = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json"
EOF
"""
FRONTEND_INGRESS = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: "frontend-ingress"
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ["*"]
{to}EOF
"""
PER_PATH = '    to:\n    - operation:\n        paths: ["/headers"]\n'
INGRESS = """
export INGRESS_HOST=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].port}')
"""  # noqa: E501 (the page's lines)
CODE = 'curl {header}"$INGRESS_HOST:$INGRESS_PORT/{path}" -s -o /dev/null -w "%{{http_code}}\\n"'
CLEANUP_ENDUSER = """
kubectl -n istio-system delete requestauthentication jwt-example
kubectl -n istio-system delete authorizationpolicy frontend-ingress
"""
DEMO_TOKEN = "TOKEN=$(cat tests/data/istio-jwt/demo.jwt)\n"  # the page: curl …/demo.jwt -s


def _code(mesh: LocalMesh, path: str = "headers", header: str = "") -> str:
    return sh_ok(mesh, INGRESS + DEMO_TOKEN + CODE.format(header=header, path=path)).strip()


def test_end_user_authentication_as_the_page_runs_it(mesh: LocalMesh) -> None:
    """The Authentication Policy page's "End-user authentication" part, on httpbin.foo from the
    setup above: a RequestAuthentication on the ingress gateway (Istio's sample key set), a bad
    token refused (401), none or Istio's `demo.jwt` let through; then "Require a valid token"
    (the DENY `notRequestPrincipals: ["*"]`: 403 without one) and "per-path" (/ip open again),
    and the page's cleanup. Left out: the expiring token of `gen-jwt.py` with Istio's private
    `key.pem` (expiry is Envoy's jwt_authn: test_authz_jwt)."""
    sh_ok(mesh, ENDUSER_ROUTE)
    assert _code(mesh) == "200"
    sh_ok(mesh, JWT_EXAMPLE)
    assert _code(mesh) == "200"
    assert _code(mesh, header='--header "Authorization: Bearer deadbeef" ') == "401"
    assert _code(mesh, header='--header "Authorization: Bearer $TOKEN" ') == "200"
    sh_ok(mesh, FRONTEND_INGRESS.format(to=""))
    assert _code(mesh) == "403"
    assert _code(mesh, header='--header "Authorization: Bearer $TOKEN" ') == "200"
    sh_ok(mesh, FRONTEND_INGRESS.format(to=PER_PATH))
    assert (_code(mesh), _code(mesh, "ip")) == ("403", "200")
    cleanup = sh(mesh, CLEANUP_ENDUSER)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert _code(mesh) == "200"
