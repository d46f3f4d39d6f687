"""Istio's EnvoyPatchAnalyzer: EnvoyFilter patches whose operation does not do what it says.

IST0153/IST0154 ADD or REMOVE on ROUTE_CONFIGURATION or HTTP_ROUTE (ignored by Istio),
IST0152 REPLACE outside HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST, IST0151 a relative
operation (INSERT_BEFORE/AFTER, REPLACE, REMOVE) in an EnvoyFilter without a priority, reported as
IST0155 instead when an earlier patch naming the same filter matched a proxyVersion. The
patches are walked in input order and the first patch without a `patch` ends an EnvoyFilter's
walk, as Istio does. Pure.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.documents import as_map, spec_of
from pilotfish.config.analyzers.messages import AnalysisMessage, Severity, message_for
from pilotfish.config.objects import EnvoyFilter

ROUTE_TARGETS = frozenset({"ROUTE_CONFIGURATION", "HTTP_ROUTE"})
REPLACEABLE = frozenset({"HTTP_FILTER", "NETWORK_FILTER", "VIRTUAL_HOST"})
RELATIVE = (
    "This EnvoyFilter does not have a priority and has a relative patch operation set which can "
    "cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the "
    "priority may help in ensuring the EnvoyFilter is applied correctly."
)
RELATIVE_WITH_VERSION = (
    "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/"
    "AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to "
    "be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority "
    "may help in ensuring the EnvoyFilter is applied correctly."
)  # Istio's wording, typo included
IGNORED = (
    "The {} operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE."
)
REPLACE_ONLY = "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER."

FilterName = tuple[str, str]


def _filter_name(config_patch: dict[str, Any]) -> FilterName:
    """Which filter a patch is about: its value's `name`, else its listener filter match (Istio
    compares a protobuf Value's text with a plain name, so the two kinds never equal)."""
    value = as_map(as_map(config_patch.get("patch")).get("value"))
    if not value:
        return ("", "")
    if "name" in value:
        return ("value", repr(value["name"]))
    chain = as_map(as_map(as_map(config_patch.get("match")).get("listener")).get("filterChain"))
    return ("name", str(as_map(chain.get("filter")).get("name") or ""))


def _priority(spec: dict[str, Any]) -> int:
    value = spec.get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _filter_messages(
    obj: EnvoyFilter, versioned: list[FilterName]
) -> list[tuple[Severity, str, str]]:
    spec = spec_of(obj)
    out: list[tuple[Severity, str, str]] = []
    for raw in spec.get("configPatches") or []:
        config_patch = as_map(raw)
        patch = config_patch.get("patch")
        if not isinstance(patch, dict):
            break
        name = _filter_name(config_patch)
        operation = patch.get("operation")
        apply_to = config_patch.get("applyTo")
        relative = False
        if operation == "ADD" and apply_to in ROUTE_TARGETS:
            out.append(("Error", "IST0153", IGNORED.format("ADD")))
        elif operation == "REMOVE":
            if apply_to in ROUTE_TARGETS:
                out.append(("Error", "IST0154", IGNORED.format("REMOVE")))
            else:
                relative = True
        elif operation == "REPLACE":
            if apply_to not in REPLACEABLE:
                out.append(("Error", "IST0152", REPLACE_ONLY))
            else:
                relative = True
        elif operation in ("INSERT_BEFORE", "INSERT_AFTER"):
            relative = True
        if relative and _priority(spec) == 0:
            if name in versioned:
                out.append(("Warning", "IST0155", RELATIVE_WITH_VERSION))
            else:
                out.append(("Warning", "IST0151", RELATIVE))
        proxy = as_map(as_map(config_patch.get("match")).get("proxy"))
        if proxy.get("proxyVersion"):
            versioned.append(name)
    return out


def envoy_filter_patches(filters: list[EnvoyFilter]) -> list[AnalysisMessage]:
    versioned: list[FilterName] = []
    return [
        message_for(obj, severity, code, text)  # Istio aims at `patch.value`, a map: its line
        for obj in filters  # is not in Istio's table (scalars only), so the object's line it is,
        for severity, code, text in _filter_messages(obj, versioned)  # and repeats print once
    ]
