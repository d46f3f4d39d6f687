"""`pilotfish analyze` on the Prometheus Operator's PrometheusRule: a rule using a metric the mesh
does not export (the seed's `istio_request_duration_seconds_bucket`) is a warning at its line."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze

SEED_RULE = """apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: istio-rules
spec:
  groups:
  - name: istio.rules
    rules:
    - alert: IstioHighLatency
      expr: histogram_quantile(0.95,
        sum(rate(istio_request_duration_seconds_bucket[5m])) by (le, destination_service))
      for: 5m
    - record: fine
      expr: sum(rate(istio_request_duration_milliseconds_bucket[5m])) by (le)
"""


def test_rule_with_a_removed_istio_metric_is_a_warning_at_its_line() -> None:
    result = load(SEED_RULE, "rules.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    messages = [m for m in analyze(result) if m.code == "PF0001"]
    assert [str(m) for m in messages] == [
        "Warning [PF0001] (PrometheusRule default/istio-rules rules.yaml:10) Rule "
        "IstioHighLatency uses metric istio_request_duration_seconds_bucket, which the mesh "
        "does not export; use istio_request_duration_milliseconds_bucket. (pilotfish check: "
        "istioctl analyze has no such analyzer)"
    ]
