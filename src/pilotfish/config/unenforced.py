"""What the mesh stores but does not enforce, said when it is applied rather than left silent.

EnvoyFilter: validated as Istio's webhook validates it (`validation.envoy_filter`) and stored,
but no translation reads it: pilotfish builds each Envoy's configuration from Istio's other
APIs, and its Envoys have none of Istio's own filters (`istio.stats`, `istio.metadata_exchange`,
the attributegen Wasm module) that Istio's EnvoyFilters usually patch. `apply` says so for every
EnvoyFilter; for one that patches Istio's stats filter or loads attributegen (Istio's
"Classifying Metrics Based on Request or Response"), it also says how the same classification
is written here: a Telemetry `tagOverrides` value in CEL, which Envoy evaluates per request.
"""

from __future__ import annotations

import json
from typing import Any

from pilotfish.config.kinds import ENVOY_FILTER
from pilotfish.config.objects import ConfigObject, Diagnostic

ISTIO_STATS_MARKS = ("istio.stats", "attributegen", "envoy.wasm.stats")
CLASSIFY_HINT = (
    "; it patches Istio's stats filter (istio.stats, attributegen Wasm), which these Envoys do "
    "not have (Istio's metrics come from Envoy's stats access logger here): to classify "
    "requests, give a Telemetry metrics override a tagOverrides value in CEL instead, e.g. "
    "request_operation: {value: \"request.url_path == '/reviews' && request.method == 'GET' "
    "? 'ListReviews' : 'unknown'\"}"
)


def unenforced_notes(obj: ConfigObject[Any]) -> list[Diagnostic]:
    """The warnings `apply` prints for `obj` (none for a kind the mesh enforces)."""
    if obj.meta.gvk.kind != ENVOY_FILTER:
        return []
    message = (
        "stored but not applied: pilotfish builds each Envoy's configuration from Istio's "
        "APIs and applies no EnvoyFilter configPatches"
    )
    spec = json.dumps(obj.raw.get("spec"), default=str)
    if any(mark in spec for mark in ISTIO_STATS_MARKS):
        message += CLASSIFY_HINT
    return [
        Diagnostic(
            "warning",
            message,
            source=obj.meta.source,
            kind=obj.meta.gvk.kind,
            name=f"{obj.meta.namespace}/{obj.meta.name}",
        )
    ]
