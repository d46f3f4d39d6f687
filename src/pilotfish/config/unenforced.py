"""What the mesh stores but does not enforce, said when it is applied rather than left silent.

EnvoyFilter: applied by translation (`translate.envoy_filters`). `apply` warns, per config
patch, about what reaches no proxy here: EXTENSION_CONFIG and BOOTSTRAP patches; the WAYPOINT
context; a ROUTE_CONFIGURATION merge into one outbound port's configuration (a sidecar that is
not a captured pod has one, `http_proxy`, for every port); a `proxyVersion` or `metadata`
match (these proxies report neither: Istio matches no proxy without them); targetRefs (Istio
applies such an EnvoyFilter to no proxy). A patch of Istio's own filters (`istio.stats`,
attributegen), which these Envoys do not have, also says how the same classification is written
here: a Telemetry `tagOverrides` value in CEL, which Envoy evaluates per request.

WasmPlugin: `apply` says it is not run (`validation.extensions.wasm_plugin_note`).
"""

from __future__ import annotations

import json
from typing import Any

from pilotfish.config.kinds import ENVOY_FILTER
from pilotfish.config.models.networking.envoy_filter import (
    APPLY_TO,
    CONTEXTS,
    OPERATIONS,
    enum_name,
)
from pilotfish.config.objects import ConfigObject, Diagnostic
from pilotfish.config.validation.extensions import CLASSIFY_CEL

ISTIO_STATS_MARKS = ("istio.stats", "attributegen", "envoy.wasm.stats")
CLASSIFY_HINT = (
    "; it patches Istio's stats filter (istio.stats, attributegen Wasm), which these Envoys do "
    "not have (Istio's metrics come from Envoy's stats access logger here): " + CLASSIFY_CEL
)


def unenforced_notes(obj: ConfigObject[Any]) -> list[Diagnostic]:
    """The warnings `apply` prints for `obj` (none for a kind the mesh enforces fully)."""
    found: list[tuple[str, str]] = []
    if obj.meta.gvk.kind != ENVOY_FILTER:
        return []
    if obj.spec.target_refs:
        found.append(("spec.targetRefs", "an EnvoyFilter with targetRefs applies to no proxy"))
    for index, cp in enumerate(obj.spec.config_patches):
        path = f"spec.configPatches[{index}]"
        reason = _unapplied(cp)
        stats = any(mark in json.dumps(cp.model_dump(), default=str) for mark in ISTIO_STATS_MARKS)
        if reason or stats:
            message = f"not applied: {reason}" if reason else "matches no filter here"
            found.append((path, message + (CLASSIFY_HINT if stats else "")))
    return _notes(obj, found)


def _notes(obj: ConfigObject[Any], found: list[tuple[str, str]]) -> list[Diagnostic]:
    return [
        Diagnostic(
            "warning",
            message,
            path=path,
            source=obj.meta.source,
            kind=obj.meta.gvk.kind,
            name=f"{obj.meta.namespace}/{obj.meta.name}",
        )
        for path, message in found
    ]


def _unapplied(cp: Any) -> str:
    """Why a config patch reaches no proxy here ("" when it may)."""
    apply_to = enum_name(cp.apply_to, APPLY_TO)
    match = cp.match
    context = enum_name(match.context if match else None, CONTEXTS)
    operation = enum_name(cp.patch.operation if cp.patch else None, OPERATIONS)
    if apply_to in ("EXTENSION_CONFIG", "BOOTSTRAP"):
        return f"applyTo {apply_to} is not supported (only listeners, routes and clusters)"
    if context == "WAYPOINT":
        return "there are no waypoint proxies here"
    proxy = match.proxy if match is not None else None
    if proxy is not None and (proxy.proxy_version or proxy.metadata):
        return (
            "its match.proxy names a proxyVersion or metadata, which these proxies do not "
            "report (Istio matches no proxy without them)"
        )
    configuration = match.route_configuration if match is not None else None
    port = configuration.port_number if configuration is not None else None
    outbound = context in ("ANY", "SIDECAR_OUTBOUND")
    if outbound and apply_to == "ROUTE_CONFIGURATION" and port and operation == "MERGE":
        return (
            "a sidecar that is not a captured pod has one outbound route configuration for "
            f"every port (http_proxy), so a merge into port {port}'s alone cannot be made; "
            "patch its virtual hosts (VIRTUAL_HOST with this portNumber) instead"
        )
    return ""
