"""The control-plane panel: the pilot_* metrics the control plane exposes on 15014/metrics,
shown as they exist (Istio's names: pilot_xds, pilot_xds_pushes, pilot_proxy_convergence_time,
pilot_total_xds_rejects, ...). Counters are summed over labels; histograms give count, mean and
p99 (Prometheus' histogram_quantile over the buckets)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pilotfish.ui.promql import histogram_quantile


def control_panel(text: str) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = []
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(("pilot_", "galley_", "citadel_")):
            continue
        row: dict[str, Any] = {"name": family.name, "type": family.type,
                               "help": family.documentation}  # fmt: skip
        if family.type == "histogram":
            buckets: dict[str, float] = {}
            count = total = 0.0
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    le = s.labels["le"]
                    buckets[le] = buckets.get(le, 0.0) + s.value
                elif s.name.endswith("_count"):
                    count += s.value
                elif s.name.endswith("_sum"):
                    total += s.value
            if "+Inf" not in buckets and buckets:
                continue
            p99 = histogram_quantile(0.99, {_le(k): v for k, v in buckets.items()})
            row |= {"count": count, "mean": total / count if count else None, "p99": p99}
        else:
            by: dict[str, float] = {}
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                key = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                by[key] = by.get(key, 0.0) + s.value
            row |= {"value": sum(by.values()), "by": by}
        metrics.append(row)
    return {"metrics": metrics}


def _le(value: str) -> str:
    return "+Inf" if value in ("+Inf", "inf") else value
