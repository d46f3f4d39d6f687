"""Istio's sample manifests whose images pilotfish's image map gained, applied unchanged
(`tests/data/istio-samples`), and then used as Istio's pages use them:

- `samples/extauthz/ext-authz.yaml`: Istio's "External Authorization" task, step by step
  (httpbin and curl in `foo`, the authorizer in its own pod without a sidecar, the providers
  in the `istio` ConfigMap, a CUSTOM policy on `/headers`): `x-ext-authz: deny` is 403 with
  the sample's body, `allow` is 200, `/ip` is never checked, and `kubectl logs` shows the
  authorizer's lines as the page prints them; the sample's README check on port 8000 too.
- `samples/websockets/app.yaml` and `route.yaml`: the tornado page through the ingress
  gateway, and its REST call updating an open WebSocket.
- `samples/health-check/liveness-http-same-port.yaml`: the server answering on 8001.
- `samples/jwt-server/jwt-server.yaml`: its key set over HTTP and HTTPS (the Secret's
  certificate).
- `samples/ratelimit/rate-limit-service.yaml`: images that cannot run here are refused whole,
  saying why.

One mesh (control plane and ingress gateway) for the module.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, http, running_mesh

DATA = ROOT / "tests/data/istio-samples"
DENY_BODY = "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
GO_LOG = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d "  # Go's log prefix, as the page's lines start

# The task's edit of the `istio` ConfigMap (`kubectl edit configmap istio -n istio-system`)
PROVIDERS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    extensionProviders:
    - name: "sample-ext-authz-grpc"
      envoyExtAuthzGrpc:
        service: "ext-authz.foo.svc.cluster.local"
        port: "9000"
    - name: "sample-ext-authz-http"
      envoyExtAuthzHttp:
        service: "ext-authz.foo.svc.cluster.local"
        port: "8000"
        includeRequestHeadersInCheck: ["x-ext-authz"]
"""

POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
spec:
  selector:
    matchLabels:
      app: httpbin
  action: CUSTOM
  provider:
    name: {provider}
  rules:
  - to:
    - operation:
        paths: ["/headers"]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as started:
        yield started


def ok(mesh: LocalMesh, *args: str, stdin: str | None = None) -> str:
    result = mesh.pilotfish(*args, stdin=stdin)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def pod_of(mesh: LocalMesh, app: str, namespace: str) -> str:
    """`$(kubectl get pod -l app=APP -n NS -o jsonpath={.items..metadata.name})`, looked up
    once per app and namespace (each `pilotfish` command is a second on a busy machine)."""
    if (app, namespace) not in _PODS:
        _PODS[app, namespace] = ok(mesh, "get", "pod", "-l", f"app={app}", "-n", namespace,
                                   "-o", "jsonpath={.items..metadata.name}")  # fmt: skip
    return _PODS[app, namespace]


_PODS: dict[tuple[str, str], str] = {}


def curl(mesh: LocalMesh, *args: str, namespace: str = "foo") -> str:
    """`kubectl exec "$(kubectl get pod -l app=curl …)" -c curl -n foo -- curl …`"""
    pod = pod_of(mesh, "curl", namespace)
    return ok(mesh, "exec", pod, "-c", "curl", "-n", namespace, "--", "curl", *args)


def authorizer_logs(mesh: LocalMesh) -> str:
    return ok(mesh, "logs", pod_of(mesh, "ext-authz", "foo"), "-n", "foo", "-c", "ext-authz")


def test_external_authorization_task(mesh: LocalMesh) -> None:
    ok(mesh, "create", "ns", "foo")
    ok(mesh, "label", "ns", "foo", "istio-injection=enabled")
    ok(mesh, "apply", "-f", str(DATA / "httpbin.yaml"), "-n", "foo")
    ok(mesh, "apply", "-f", str(DATA / "curl.yaml"), "-n", "foo")
    code = curl(mesh, "http://httpbin.foo:8000/ip", "-s", "-o", "/dev/null", "-w", "%{http_code}")
    assert code == "200"

    applied = ok(mesh, "apply", "-n", "foo", "-f", str(DATA / "ext-authz.yaml"))
    assert "service/ext-authz created\ndeployment.apps/ext-authz created\n" in applied
    pods = ok(mesh, "get", "pods", "-n", "foo", "-l", "app=ext-authz")
    assert re.search(r"ext-authz-\S+\s+1/1\s+Running", pods), pods  # inject: "false"
    started = authorizer_logs(mesh)
    assert re.search(f"^{GO_LOG}Starting HTTP server at \\S+:8000$", started, re.M), started
    assert re.search(f"^{GO_LOG}Starting gRPC server at \\S+:9000$", started, re.M), started

    # the sample's README: its HTTP check API answers directly on port 8000
    allowed = curl(mesh, "-si", "ext-authz:8000", "-H", "x-ext-authz: allow")
    assert allowed.startswith("HTTP/1.1 200"), allowed
    assert "x-ext-authz-check-result: allowed" in allowed.lower()
    denied = curl(mesh, "-si", "ext-authz:8000", "-H", "x-ext-authz: bla")
    assert denied.startswith("HTTP/1.1 403") and denied.endswith(DENY_BODY), denied

    ok(mesh, "apply", "-f", "-", stdin=PROVIDERS)
    ok(mesh, "apply", "-n", "foo", "-f", "-", stdin=POLICY.format(provider="sample-ext-authz-grpc"))
    headers = "http://httpbin.foo:8000/headers"
    # curl's sidecar keeps its connection to httpbin's from before the providers were declared,
    # and that connection keeps its old chain (no provider filters) until the listener's drain
    # ends (1 s): a request on it is refused by the CUSTOM rules' guard, never let through
    first = curl(mesh, headers, "-H", "x-ext-authz: deny", "-s")
    assert first in (DENY_BODY, "RBAC: access denied"), first
    mesh.wait_for(lambda: curl(mesh, headers, "-H", "x-ext-authz: deny", "-s") == DENY_BODY,
                  10, "the authorizer's answer")  # fmt: skip
    seen = json.loads(curl(mesh, headers, "-H", "x-ext-authz: allow", "-s"))["headers"]
    assert seen["X-Ext-Authz-Check-Result"] == "allowed", seen
    # an attacker forging the authorizer's answer is still checked, and still refused
    forged = curl(mesh, headers, "-H", "x-ext-authz-check-result: allowed", "-s", "-o",
                  "/dev/null", "-w", "%{http_code}")  # fmt: skip
    assert forged == "403"
    ip = curl(mesh, "http://httpbin.foo:8000/ip", "-s", "-o", "/dev/null", "-w", "%{http_code}")
    assert ip == "200"

    logs = authorizer_logs(mesh)
    denied_line = re.search(f"^{GO_LOG}\\[gRPCv3\\]\\[denied\\]: httpbin.foo:8000/headers, .*$",
                            logs, re.M)  # fmt: skip
    assert denied_line, logs
    assert 'principal: "spiffe://cluster.local/ns/foo/sa/curl"' in denied_line.group(0)
    assert 'key: "x-ext-authz"' in denied_line.group(0) and "deny" in denied_line.group(0)
    assert re.search(f"^{GO_LOG}\\[gRPCv3\\]\\[allowed\\]: httpbin.foo:8000/headers", logs, re.M)
    assert "/ip" not in logs  # never sent to the authorizer
    assert '"GET /' not in logs  # no line per request beyond the decisions, as Istio's server

    # "You can also replace this with sample-ext-authz-http"
    ok(mesh, "apply", "-n", "foo", "-f", "-", stdin=POLICY.format(provider="sample-ext-authz-http"))
    assert curl(mesh, headers, "-H", "x-ext-authz: deny", "-s") == DENY_BODY
    seen = json.loads(curl(mesh, headers, "-H", "x-ext-authz: allow", "-s"))["headers"]
    assert "X-Ext-Authz" in seen
    logs = authorizer_logs(mesh)
    assert re.search(f"^{GO_LOG}\\[HTTP\\]\\[denied\\]: GET httpbin.foo:8000/headers, headers: "
                     "map\\[.*X-Ext-Authz:\\[deny\\]", logs, re.M), logs  # fmt: skip
    assert re.search(f"^{GO_LOG}\\[HTTP\\]\\[allowed\\]: GET httpbin.foo:8000/headers", logs, re.M)
    ok(mesh, "delete", "namespace", "foo")


async def _websocket_update(base: str) -> str:
    """Open the page's WebSocket, make the README's REST call, return what the socket got."""
    async with (
        aiohttp.ClientSession(trust_env=False) as session,
        session.ws_connect(f"ws://{base}/ws") as ws,
    ):
        async with session.get(f"http://{base}/api?id=1&value=300") as answer:
            assert answer.status == 200
        message = await asyncio.wait_for(ws.receive(), 10)
        return str(message.data)


def test_websockets_sample_through_the_ingress_gateway(mesh: LocalMesh) -> None:
    ok(mesh, "apply", "-f", str(DATA / "websockets-app.yaml"))
    ok(mesh, "apply", "-f", str(DATA / "websockets-route.yaml"))
    page = http(f"http://{mesh.ingress}/")
    assert page.status == 200 and "WebSocket status" in page.body, page
    update = asyncio.run(_websocket_update(mesh.ingress))
    assert json.loads(update) == {"id": "1", "value": "300"}
    ok(mesh, "delete", "-f", str(DATA / "websockets-route.yaml"))
    ok(mesh, "delete", "-f", str(DATA / "websockets-app.yaml"))


def test_health_check_sample_serves_on_its_port(mesh: LocalMesh) -> None:
    ok(mesh, "apply", "-f", str(DATA / "curl.yaml"), "-n", "health")
    ok(mesh, "apply", "-f", str(DATA / "liveness-http-same-port.yaml"), "-n", "health")
    pods = ok(mesh, "get", "pods", "-n", "health", "-l", "app=liveness-http")
    assert re.search(r"liveness-http-\S+\s+2/2\s+Running\s+0", pods), pods
    assert (
        curl(mesh, "-s", "liveness-http:8001/foo", namespace="health") == "Listening on 8001: foo "
    )
    assert (
        curl(mesh, "-s", "liveness-http:8001/bar", namespace="health") == "Listening on 8001: bar "
    )
    ok(mesh, "delete", "namespace", "health")


def test_images_that_cannot_run_here_are_refused_saying_why(mesh: LocalMesh) -> None:
    path = DATA / "rate-limit-service.yaml"
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 1
    lines = Path(path).read_text().splitlines()
    for image in ("docker.io/redis:alpine", "docker.io/envoyproxy/ratelimit:30a4ce1a"):
        line = next(i for i, text in enumerate(lines, 1) if f"image: {image}" in text)
        assert re.search(
            f"{path}:{line}: Deployment \\S+ at spec.template.spec.containers\\[0\\].image: "
            f"image '{image}' cannot run in local mode: Envoy's global rate limit service",
            result.stderr,
        ), result.stderr
    assert "ratelimit" not in ok(mesh, "get", "svc")  # nothing applied


def test_jwt_server_serves_its_key_set_over_http_and_https(mesh: LocalMesh) -> None:
    """Istio's jwt-server.yaml: its certificate comes from the Secret the file holds, mounted
    as its Deployment mounts it; the key set is the same on both ports."""
    ok(mesh, "apply", "-f", str(DATA / "curl.yaml"), "-n", "jwt")
    ok(mesh, "apply", "-f", str(DATA / "jwt-server.yaml"), "-n", "jwt")
    plain = json.loads(curl(mesh, "-s", "http://jwt-server:8000/", namespace="jwt"))
    assert [k["kid"] for k in plain["keys"]] == ["tT_w9LRNrY7wJalGsTYSt7rutZi86Gvyc0EKR4CaQAw"]
    secure = curl(mesh, "-sk", "https://jwt-server.jwt:8443/jwks?delay=10ms", namespace="jwt")
    assert json.loads(secure) == plain
    # the certificate is the Secret's (its names include jwt-server.default, not a pilotfish one)
    script = "curl -skv -o /dev/null https://jwt-server.jwt:8443/ 2>&1"
    shown = ok(mesh, "exec", pod_of(mesh, "curl", "jwt"), "-n", "jwt", "--", "sh", "-c", script)
    assert "CN=*.com" in shown or "CN = *.com" in shown, shown
    bad = curl(mesh, "-s", "-w", " %{http_code}", "jwt-server:8000/?delay=soon", namespace="jwt")
    assert bad == "Invalid delay parameter 400"
    ok(mesh, "delete", "namespace", "jwt")
