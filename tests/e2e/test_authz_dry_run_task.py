"""Istio's "Dry Run" authorization task, step by step with its own commands: Istio's httpbin and
curl samples in `foo` (injection by the namespace label), `proxy-config log deploy/httpbin.foo
--level "rbac:debug"`, the `deny-path-headers` policy applied in dry-run mode and then switched
with `annotate --overwrite authorizationpolicies … istio.io/dry-run='true'`, requests to
/headers that still get 200, and the three places the page reads the shadow result: the proxy
log (`logs … -c istio-proxy | grep "shadow denied"`, in Istio's Envoy log format), the metric
`envoy_http_inbound_0_0_0_0_<port>_rbac{authz_dry_run_action="deny",
authz_dry_run_result="denied"}` on the pod's Prometheus port, and the span tags
`istio.authorization.dry_run.deny_policy.name|result` in Zipkin (the mesh's collector, with the
legacy `istio-tracing` ConfigMap standing for the page's Zipkin install); then, annotated false,
enforcement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok, running_mesh
from tests.e2e.telemetrykit import ISTIO_TRACING, fetch

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
POLICY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-path-headers
  annotations:
    "istio.io/dry-run": "true"
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/headers"]
"""
# Istio's Envoy log line: time, level, `envoy <logger> <file>:<line>`, message, thread
SHADOW_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\tdebug\tenvoy rbac \S+:\d+\t"
    r"shadow denied, matched policy ns\[foo\]-policy\[deny-path-headers\]-rule\[0\]\tthread=\d+$"
)
METRIC = re.compile(
    r'^envoy_http_inbound_0_0_0_0_8080_rbac\{authz_dry_run_action="deny",'
    r'authz_dry_run_result="denied"\} (\d+)$',
    re.M,
)


_ok = pilotfish_ok


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as running:
        apply_yaml(running, tmp_path_factory.mktemp("zipkin"), ISTIO_TRACING)  # "Deploy Zipkin"
        _ok(running, "create", "ns", "foo")
        _ok(running, "label", "ns", "foo", "istio-injection=enabled")
        _ok(running, "apply", "-f", str(SAMPLES / "httpbin.yaml"), "-n", "foo")
        _ok(running, "apply", "-f", str(SAMPLES / "curl.yaml"), "-n", "foo")
        yield running


def _pod(mesh: LocalMesh, app: str) -> str:
    path = "jsonpath={.items..metadata.name}"
    return _ok(mesh, "get", "pod", "-l", f"app={app}", "-n", "foo", "-o", path).strip()


def _curl(mesh: LocalMesh, path: str) -> str:
    return _ok(
        mesh, "exec", _pod(mesh, "curl"), "-c", "curl", "-n", "foo", "--", "curl",
        f"http://httpbin.foo:8000{path}", "-H", "X-B3-Sampled: 1", "-s", "-o", "/dev/null",
        "-w", "%{http_code}\n",
    )  # fmt: skip


def _shadow_denied(mesh: LocalMesh) -> int:
    page = _ok(
        mesh, "exec", _pod(mesh, "httpbin"), "-c", "istio-proxy", "-n", "foo", "--",
        "curl", "-s", "localhost:15090/stats/prometheus",
    )  # fmt: skip
    found = METRIC.search(page)
    assert found, [line for line in page.splitlines() if "rbac" in line]
    return int(found.group(1))


def _dry_run_tags(mesh: LocalMesh) -> list[dict[str, str]]:
    """The dry-run tags of httpbin's spans in the mesh's Zipkin (the page's `dashboard zipkin`)."""
    (collector,) = mesh.info["trace_collectors"]
    traces: list[list[dict[str, Any]]] = json.loads(
        fetch(f"{collector}/api/v2/traces?serviceName=httpbin.foo&limit=100")
    )
    prefix = "istio.authorization.dry_run."
    found = []
    for span in (s for t in traces for s in t):
        tags = {k: v for k, v in span.get("tags", {}).items() if k.startswith(prefix)}
        if tags:
            found.append(tags)
    return found


def test_the_dry_run_task_as_the_page_runs_it(mesh: LocalMesh) -> None:
    logged = _ok(mesh, "proxy-config", "log", "deploy/httpbin.foo", "--level", "rbac:debug")
    assert [line.strip() for line in logged.splitlines() if "rbac" in line] == ["rbac: debug"]
    assert _curl(mesh, "/ip") == "200\n"
    applied = mesh.pilotfish("apply", "-n", "foo", "-f", "-", stdin=POLICY)
    assert applied.returncode == 0, applied.stderr
    annotated = _ok(
        mesh, "annotate", "--overwrite", "authorizationpolicies", "deny-path-headers", "-n",
        "foo", "istio.io/dry-run=true",
    )  # fmt: skip
    assert annotated == "authorizationpolicies.security.istio.io/deny-path-headers annotated\n"
    before = _shadow_denied(mesh)
    assert [_curl(mesh, "/headers") for _ in range(3)] == ["200\n"] * 3
    client = _ok(
        mesh, "exec", _pod(mesh, "curl"), "-c", "istio-proxy", "-n", "foo", "--",
        "curl", "-s", "localhost:15090/stats/prometheus",
    )  # fmt: skip
    wanted = 'cluster_name="xds-grpc"}'  # Istio's tags (15090 shows Istio's inclusion lists)
    assert any(
        line.startswith("envoy_cluster_upstream_rq_total{") and line.split(" ")[0].endswith(wanted)
        for line in client.splitlines()
    ), [line for line in client.splitlines() if "upstream_rq_total" in line]
    mesh.wait_for(lambda: _shadow_denied(mesh) == before + 3, 10, "3 shadow denials counted")
    log = _ok(mesh, "logs", _pod(mesh, "httpbin"), "-c", "istio-proxy", "-n", "foo")
    shadow = [line for line in log.splitlines() if "shadow denied" in line]
    assert len(shadow) >= 3 and all(SHADOW_LINE.match(line) for line in shadow), shadow[-3:]
    denied = {
        "istio.authorization.dry_run.deny_policy.name": "ns[foo]-policy[deny-path-headers]-rule[0]",
        "istio.authorization.dry_run.deny_policy.result": "denied",
    }
    mesh.wait_for(lambda: denied in _dry_run_tags(mesh), 30, "the page's tags in a Zipkin span")

    # without --overwrite a changed value is refused, and the policy stays in dry-run
    refused = mesh.pilotfish(
        "annotate", "authorizationpolicies", "deny-path-headers", "-n", "foo",
        "istio.io/dry-run=false",
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: --overwrite is false but found the following declared annotation(s): "
        "'istio.io/dry-run' already has a value (true)"
    )
    assert _curl(mesh, "/headers") == "200\n"
    # a value Istio cannot parse is refused by the same checks as apply
    bad = mesh.pilotfish(
        "annotate", "--overwrite", "authorizationpolicy/deny-path-headers", "-n", "foo",
        "istio.io/dry-run=maybe",
    )  # fmt: skip
    assert bad.returncode == 1 and "strconv.ParseBool" in bad.stderr, bad.stderr
    # the page's way out of dry-run: the value false enforces the policy
    _ok(
        mesh, "annotate", "--overwrite", "authorizationpolicies", "deny-path-headers", "-n",
        "foo", "istio.io/dry-run=false",
    )  # fmt: skip
    assert _curl(mesh, "/headers") == "403\n"
    assert _curl(mesh, "/ip") == "200\n"
    missing = mesh.pilotfish("annotate", "authorizationpolicies", "nope", "-n", "foo", "a=b")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        'Error from server (NotFound): authorizationpolicies.security.istio.io "nope" not found'
    )
