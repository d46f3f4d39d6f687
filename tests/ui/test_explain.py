"""`explain`: Istio's access log lines read back, flags in plain words, and the config object
responsible found through the push context (DestinationRule connectionPool, VirtualService
fault, missing subset, AuthorizationPolicy)."""

from __future__ import annotations

from pilotfish.config.load import load
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot, WorkloadInstance
from pilotfish.ui.access_log import parse_line
from pilotfish.ui.explain import explain, render
from pilotfish.ui.node_config import policies_for

CONFIG = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: ratings, subset: v1}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-get, namespace: default}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [GET]}}]}]
"""


def line(code: int, flags: str, cluster: str, authority: str, details: str = "via_upstream") -> str:
    return (
        f'[2026-11-30T10:00:00.000Z] "GET /get HTTP/1.1" {code} {flags} {details} - "-" 0 81 2 - '
        f'"-" "curl/8" "abc" "{authority}" "-" {cluster} - 127.1.1.2:15001 127.0.0.1:40000 - -'
    )


def push() -> PushContext:
    result = load(CONFIG, "test.yaml")
    assert result.ok, result.diagnostics
    return PushContext(RegistrySnapshot(), configs=tuple(result.objects))


def test_istio_text_lines_parse_and_envoy_log_lines_do_not() -> None:
    entry = parse_line(
        line(503, "UO", "outbound|8000||httpbin.default.svc.cluster.local", "httpbin:8000")
    )
    assert entry is not None and entry.response_flags == "UO" and entry.failed
    assert parse_line("[2026-11-30 10:00:00.000][1][info][main] starting") is None
    ok = parse_line(line(200, "-", "outbound|8000||httpbin.default.svc.cluster.local", "h"))
    assert ok is not None and not ok.failed
    assert parse_line('{"response_code": 503, "response_flags": "UO", "authority": "a"}')


def test_circuit_breaker_names_the_destination_rule_and_its_connection_pool() -> None:
    entries = [parse_line(line(503, "UO", "outbound|8000||httpbin.default.svc.cluster.local",
                               "httpbin:8000")) for _ in range(3)]  # fmt: skip
    (finding,) = explain([e for e in entries if e], push(), "default")
    assert finding.count == 3 and "circuit breaker" in finding.words[0]
    (culprit,) = finding.culprits
    assert (culprit.kind, culprit.name, culprit.field) == (
        "DestinationRule",
        "httpbin",
        "spec.trafficPolicy.connectionPool",
    )
    assert "http1MaxPendingRequests: 1" in culprit.detail
    text = "\n".join(render("fortio", [finding.as_json()]))
    assert "caused by DestinationRule default/httpbin at spec.trafficPolicy.connectionPool" in text


def test_fault_abort_names_the_virtual_service_rule() -> None:
    entry = parse_line(line(500, "FI", "-", "ratings:9080", "fault_filter_abort"))
    assert entry is not None
    (finding,) = explain([entry], push(), "default")
    (culprit,) = finding.culprits
    assert (culprit.kind, culprit.name, culprit.field) == (
        "VirtualService",
        "ratings",
        "spec.http[0].fault.abort",
    )
    assert "httpStatus: 500" in culprit.detail


def test_missing_subset_and_rbac_denial() -> None:
    nc = parse_line(line(503, "NC", "-", "ratings:9080", "cluster_not_found"))
    assert nc is not None
    (finding,) = explain([nc], push(), "default")
    assert finding.culprits[0].field == "spec.http[0].route[0].destination.subset"
    denied = parse_line(line(403, "-", "inbound|9080||", "reviews:9080",
        "rbac_access_denied_matched_policy[ns[default]-policy[deny-get]-rule[0]]"))  # fmt: skip
    assert denied is not None
    (finding,) = explain([denied], push(), "default")
    assert finding.direction == "inbound" and "authorization policy" in finding.words[-1]
    assert (finding.culprits[0].kind, finding.culprits[0].name) == (
        "AuthorizationPolicy",
        "deny-get",
    )


def test_without_access_logs_it_says_how_to_turn_them_on() -> None:
    (line_,) = render("httpbin-v1", [], logged=0)
    assert "accessLogFile: /dev/stdout" in line_
    assert render("httpbin-v1", [], logged=5) == [
        "httpbin-v1: no failed requests in its recent access log"
    ]


SELECTED = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin-all, namespace: default}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 100}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin-fortio, namespace: default}
spec:
  host: httpbin
  workloadSelector: {matchLabels: {app: fortio}}
  trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: 1}}}
"""


def test_the_culprit_is_the_rule_the_proxys_labels_select() -> None:
    """A `workloadSelector` rule is the one istiod gives the pods it selects; others get the
    rule without a selector. explain names the one the failing proxy applies."""
    result = load(SELECTED, "test.yaml")
    assert result.ok, result.diagnostics
    push = PushContext(RegistrySnapshot(), configs=tuple(result.objects))
    entry = parse_line(line(503, "UO", "outbound|8000||httpbin.default.svc.cluster.local", "h"))
    assert entry is not None
    (fortio,) = explain([entry], push, "default", {"app": "fortio", "version": "v1"})
    assert [c.name for c in fortio.culprits] == ["httpbin-fortio"]
    assert "http1MaxPendingRequests: 1" in fortio.culprits[0].detail
    (sleep,) = explain([entry], push, "default", {"app": "sleep"})
    assert [c.name for c in sleep.culprits] == ["httpbin-all"]


def test_a_workloads_node_lists_the_destination_rules_its_labels_select() -> None:
    result = load(SELECTED, "test.yaml")
    assert result.ok, result.diagnostics
    push = PushContext(RegistrySnapshot(), configs=tuple(result.objects))

    def rules(labels: dict[str, str], namespace: str = "default") -> list[str]:
        instance = WorkloadInstance("w-0", "w", namespace, "127.0.0.9", tuple(labels.items()))
        return [c["name"] for c in policies_for(push, instance) if c["kind"] == "DestinationRule"]

    assert rules({"app": "fortio"}) == ["httpbin-fortio"]
    assert rules({"app": "sleep"}) == []
    assert rules({"app": "fortio"}, namespace="other") == []
