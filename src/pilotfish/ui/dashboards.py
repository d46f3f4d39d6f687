"""Istio's Grafana dashboards (mesh, service, workload): their main panels, computed with the
same queries the dashboards run, e.g. the mesh's

    sum(rate(istio_requests_total{reporter="source"}[w]))                      request volume
    sum(rate(...{reporter="source", response_code!~"5.*"}[w])) / sum(rate(...))  success rate
    histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{...}[w]))
                             by (le, destination_workload, destination_workload_namespace))

A panel row is {labels..., rps, success_rate, p50, p90, p99}; success is non-5xx / total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilotfish.ui.promql import Matcher, Rates, matcher, quantiles_by, sum_by
from pilotfish.ui.series import DURATION_BUCKET, REQUESTS, Key, label

QUANTILES = (0.5, 0.9, 0.99)


def _and(*matchers: Matcher) -> Matcher:
    return lambda key: all(m(key) for m in matchers)


def _ok(key: Key) -> bool:
    return not label(key, "response_code").startswith("5")


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def table(rates: Rates, match: Matcher, by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per group of `by`: rate, success rate and p50/p90/p99, busiest first."""
    requests = rates.rate(REQUESTS, match)
    volume = sum_by(requests, by)
    ok = sum_by({k: v for k, v in requests.items() if _ok(k)}, by)
    errors_4xx = sum_by(
        {k: v for k, v in requests.items() if label(k, "response_code").startswith("4")}, by
    )
    latency = quantiles_by(rates.rate(DURATION_BUCKET, match), by, QUANTILES)
    rows = []
    for group, rps in sorted(volume.items(), key=lambda kv: (-kv[1], kv[0])):
        p50, p90, p99 = latency.get(group, [None, None, None])
        rows.append(
            dict(zip(by, group, strict=True))
            | {
                "rps": round(rps, 3),
                "success_rate": round(ok.get(group, 0.0) / rps, 4) if rps else None,
                "rate_4xx": round(errors_4xx.get(group, 0.0), 3),
                "rate_5xx": round(rps - ok.get(group, 0.0), 3),
                "p50": _round(p50),
                "p90": _round(p90),
                "p99": _round(p99),
            }
        )
    return rows


def _summary(rates: Rates, match: Matcher) -> Any:
    rows = table(rates, match, [])
    return rows[0] if rows else None


def mesh(rates: Rates) -> dict[str, Any]:
    source = matcher(reporter="source")
    by = ["destination_workload", "destination_workload_namespace", "destination_service"]
    return {
        "summary": _summary(rates, source),
        "workloads": table(rates, source, by),
    }


def service(rates: Rates, host: str) -> dict[str, Any]:
    dest = matcher(destination_service=host)
    client = _and(dest, matcher(reporter="source"))
    server = _and(dest, matcher(reporter="destination"))
    return {
        "client": _summary(rates, client),
        "server": _summary(rates, server),
        "by_source": table(rates, server, ["source_workload", "source_workload_namespace"]),
        "by_destination_workload": table(
            rates, server, ["destination_workload", "destination_workload_namespace"]
        ),
    }


def workload(rates: Rates, namespace: str, name: str) -> dict[str, Any]:
    inbound = matcher(
        reporter="destination", destination_workload=name, destination_workload_namespace=namespace
    )
    outbound = matcher(reporter="source", source_workload=name, source_workload_namespace=namespace)
    return {
        "inbound": _summary(rates, inbound),
        "outbound": _summary(rates, outbound),
        "by_source": table(rates, inbound, ["source_workload", "source_workload_namespace"]),
        "by_destination": table(rates, outbound, ["destination_service", "destination_workload"]),
    }
