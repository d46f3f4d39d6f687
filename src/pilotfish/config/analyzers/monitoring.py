"""Analysis of the Prometheus Operator's `PrometheusRule`: a rule whose expression uses an
`istio_*` metric the mesh does not export never fires (Istio removed, e.g.,
`istio_request_duration_seconds` for `istio_request_duration_milliseconds`).

This is pilotfish's own check, not one of Istio's: istioctl has no analyzer for PrometheusRules, and
`istioctl analyze` on the same file reports nothing. So it has a `PF` code (never an `IST` one,
which would pretend to be Istio's) and its message says it is pilotfish's. Kept because the
mistake it catches (an alert on a metric Istio removed never fires) is silent otherwise.
Pure: no I/O.
"""

from __future__ import annotations

from pilotfish.config.analyzers.messages import AnalysisMessage
from pilotfish.config.istio_metrics import replacement, unknown_istio_metrics
from pilotfish.config.yaml_text import RawDocument

UNEXPORTED_METRIC = "PF0001"
PILOTFISH_ONLY = "(pilotfish check: istioctl analyze has no such analyzer)"


def unexported_metrics(doc: RawDocument) -> list[AnalysisMessage]:
    if doc.kind != "PrometheusRule":
        return []
    meta = doc.metadata
    name = f"{meta.get('name', '')}.{meta.get('namespace') or 'default'}"
    spec = doc.data.get("spec")
    groups = spec.get("groups") if isinstance(spec, dict) else None
    messages = []
    for g, group in enumerate(groups if isinstance(groups, list) else []):
        rules = group.get("rules") if isinstance(group, dict) else None
        for r, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict):
                continue
            path = f"spec.groups[{g}].rules[{r}].expr"
            for metric in unknown_istio_metrics(str(rule.get("expr", ""))):
                instead = replacement(metric)
                hint = f"; use {instead}" if instead else ""
                label = rule.get("alert") or rule.get("record") or f"rules[{r}]"
                text = (
                    f"Rule {label} uses metric {metric}, which the mesh does not export{hint}. "
                    f"{PILOTFISH_ONLY}"
                )
                messages.append(
                    AnalysisMessage(
                        "Warning", UNEXPORTED_METRIC, doc.kind, name, text, doc.source_of(path)
                    )
                )
    return messages
