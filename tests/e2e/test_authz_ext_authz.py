"""CUSTOM AuthorizationPolicy through Envoy's ext_authz, end to end: Istio's "External
Authorization" task as its docs run it (httpbin, sleep and the ext-authz sample in `foo`, the
providers declared in the `istio` ConfigMap with the task's text, `/headers` checked, `/ip` not),
with the gRPC and the HTTP check API, an attacker forging the check's answer, a provider that is
missing (every matching request denied, as Istio does) or unreachable (fail closed, `failOpen`,
`statusOnError`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import SidecarClient, apply_yaml, delete_yaml
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh

DENY_BODY = "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
HTTPBIN = "http://httpbin.foo:8000"


def _manifest(folder: Path) -> str:
    samples = ROOT / "samples"
    (folder / "mesh.yaml").write_text(f"""
apiVersion: v1
kind: Namespace
metadata: {{name: foo, labels: {{istio-injection: enabled}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: httpbin, namespace: foo}}
---
apiVersion: v1
kind: Service
metadata: {{name: httpbin, namespace: foo, labels: {{app: httpbin}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: httpbin}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: httpbin, namespace: foo, labels: {{app: httpbin}}}}
spec:
  serviceAccount: httpbin
  command: ["{sys.executable}", "{samples}/httpbin/httpbin.py"]
  ports: [8080]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sleep, namespace: foo}}
---
apiVersion: v1
kind: Service
metadata: {{name: sleep, namespace: foo, labels: {{app: sleep}}}}
spec:
  ports: [{{name: http, port: 80}}]
  selector: {{app: sleep}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: sleep, namespace: foo, labels: {{app: sleep}}}}
spec:
  serviceAccount: sleep
  command: ["{sys.executable}", "{samples}/sleep/sleep.py"]
  ports: [80]
---
apiVersion: v1
kind: Service
metadata: {{name: dead, namespace: foo}}
spec:
  ports: [{{name: http, port: 8000}}, {{name: grpc, port: 9000}}]
  selector: {{app: no-such-app}}
""")  # fmt: skip
    return str(folder)


# The task's edit of the `istio` ConfigMap, ports as strings exactly as the docs write them.
PROVIDERS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
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
        headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
    - name: "unreachable-closed"
      envoyExtAuthzGrpc:
        service: "dead.foo.svc.cluster.local"
        port: 9000
        timeout: 2s
    - name: "unreachable-open"
      envoyExtAuthzHttp:
        service: "dead.foo.svc.cluster.local"
        port: 8000
        failOpen: true
    - name: "unreachable-status"
      envoyExtAuthzGrpc:
        service: "dead.foo.svc.cluster.local"
        port: 9000
        timeout: 2s
        statusOnError: "503"
"""


def policy(provider: str, paths: str = '["/headers"]', name: str = "ext-authz") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {name}, namespace: foo}}
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
        paths: {paths}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("extauthz-mesh")
    (folder / "providers.yaml").write_text(PROVIDERS)  # the mesh config, from the start
    with running_mesh(tmp_path_factory, _manifest(folder)) as started:
        # Istio's task: deploy the sample authorizer in foo
        sample = str(ROOT / "samples/extauthz/ext-authz.yaml")
        result = started.pilotfish("apply", "-n", "foo", "-f", sample)
        assert result.returncode == 0, result.stdout + result.stderr
        yield started


@pytest.fixture
def sleep(mesh: LocalMesh) -> SidecarClient:
    return SidecarClient(mesh, "sleep-0.foo")


def _task(mesh: LocalMesh, sleep: SidecarClient, api: str) -> None:
    """The task's checks with the `api` provider, and an attacker's tries."""
    denied = sleep.request(f"{HTTPBIN}/headers", headers={"x-ext-authz": "deny"})
    assert denied.status == 403, api
    assert denied.body == DENY_BODY
    assert denied.headers["x-ext-authz-check-result"] == "denied"
    assert sleep.request(f"{HTTPBIN}/headers").status == 403  # no header at all
    allowed = sleep.request(f"{HTTPBIN}/headers", headers={"x-ext-authz": "allow"})
    assert allowed.status == 200, api
    seen = json.loads(allowed.body)["headers"]
    assert seen["X-Ext-Authz-Check-Result"] == "allowed"  # the authorizer's answer, upstream
    # what the authorizer was sent (the gRPC sample echoes its check request) and what the app
    # sees hold the request's own headers, none of the sidecar's internal ones
    assert "x-pilotfish" not in json.dumps(seen).lower(), seen
    if api == "grpc":
        assert "x-ext-authz" in seen["X-Ext-Authz-Check-Received"]
    # a path the policy does not select is never sent to the authorizer
    assert sleep.request(f"{HTTPBIN}/ip", headers={"x-ext-authz": "deny"}).status == 200
    # an attacker sends the authorizer's answer himself, another spelling of the value, and
    # other spellings of the path: the check still runs and says no
    forged = {"x-ext-authz-check-result": "allowed", "x-ext-authz": "Allow"}
    answer = sleep.request(f"{HTTPBIN}/headers", headers=forged)
    assert answer.status == 403 and answer.headers["x-ext-authz-check-result"] == "denied"
    for path in ("/headers?x=1", "/./headers", "/x/../headers", "/%68eaders"):
        assert sleep.request(f"{HTTPBIN}{path}").status == 403, path
    assert sleep.request(f"{HTTPBIN}/headers#x").status in (400, 403)  # a fragment: refused
    tag = "[gRPCv3]" if api == "grpc" else "[HTTP]"
    logs = mesh.pilotfish("logs", "-n", "foo", "ext-authz-0").stdout
    assert f"{tag}[denied]" in logs and f"{tag}[allowed]" in logs


def test_istio_task(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    """Applied, the policy holds from the next request on, on kept-alive connections too (its
    rules come by RDS: no listener drains); swapped for the HTTP provider, then deleted."""
    assert sleep.request(f"{HTTPBIN}/headers").status == 200  # before: no policy
    apply_yaml(mesh, tmp_path, policy("sample-ext-authz-grpc"), "grpc.yaml")
    _task(mesh, sleep, "grpc")
    apply_yaml(mesh, tmp_path, policy("sample-ext-authz-http"), "http.yaml")
    _task(mesh, sleep, "http")
    delete_yaml(mesh, tmp_path, policy("sample-ext-authz-http"))
    assert sleep.request(f"{HTTPBIN}/headers").status == 200


UNUSABLE = "---".join(
    [
        policy("no-such-provider", '["/status/*"]', "missing"),
        policy("unreachable-closed", '["/anything/closed"]', "closed"),
        policy("unreachable-open", '["/anything/open"]', "open"),
        policy("unreachable-status", '["/anything/status"]', "status"),
    ]
)


def test_unusable_providers(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    """A provider the mesh config lacks: every matching request is denied (Istio's fail-closed
    DENY); one that gives no answer: denied (Istio's default), allowed with `failOpen: true`,
    or answered with its `statusOnError`."""
    apply_yaml(mesh, tmp_path, UNUSABLE, "unusable.yaml")
    try:
        allow = {"x-ext-authz": "allow"}
        assert sleep.request(f"{HTTPBIN}/status/200", headers=allow).status == 403
        assert sleep.request(f"{HTTPBIN}/anything/closed", headers=allow).status == 403
        assert sleep.request(f"{HTTPBIN}/anything/open").status == 200
        assert sleep.request(f"{HTTPBIN}/anything/status", headers=allow).status == 503
        assert sleep.request(f"{HTTPBIN}/ip").status == 200  # matched by none: untouched
        # what httpbin's Envoy holds, as istioctl x authz check reads it; and x describe pod
        check = mesh.pilotfish("x", "authz", "check", "httpbin-0", "-n", "foo")
        assert check.stdout.splitlines() == [  # istioctl's table alone, CUSTOM rows last
            "ACTION   AuthorizationPolicy   RULES",
            "DENY     missing.foo           1",  # no such provider: Istio's fail-closed DENY
            "CUSTOM   closed.foo            1",
            "CUSTOM   open.foo              1",
            "CUSTOM   status.foo            1",
        ], check.stdout + check.stderr
        described = mesh.pilotfish("x", "describe", "pod", "httpbin-0", "-n", "foo").stdout
        assert "   CUSTOM missing.foo (provider no-such-provider, 1 rule)" in described
        rbac = next(line for line in described.splitlines() if line.startswith("RBAC policies:"))
        assert "istio-ext-authz-no-such-provider-ns[foo]-policy[missing]-rule[0]" in rbac
    finally:
        delete_yaml(mesh, tmp_path, UNUSABLE)
