"""`apply`'s word on a Telemetry that names an extension provider the mesh cannot serve, instead of
silence: a provider no `extensionProviders` entry (nor a built-in name) defines, or one of a
kind this version does not implement (`envoyHttpAls`, `envoyTcpAls`, Lightstep, Stackdriver,
...; `mesh_telemetry.UNSUPPORTED_KINDS`), which the mesh config accepts as Istio does but which
then sends nothing; or an `envoyOtelAls`, Datadog or SkyWalking provider whose service port the
mesh does not have (yet), to which no proxy logs or traces (`policy.otel_cluster`, Istio's
LookupCluster). Built-ins: `envoy` (the
file access log on stdout) and `prometheus`. (A tracing provider whose host is not a service of
the mesh sends to the mesh's own collector, which takes Zipkin, OTLP/HTTP and OTLP over gRPC: no
note.) And a metrics tagOverride whose CEL calls `string()` inside a larger expression: Envoy's
CEL has no such conversion (one around the whole value is left to the formatter), so the tag
keeps its default value instead of the listeners being rejected. And a tagOverride that reads a
Wasm plugin's filter state (`filter_state['wasm.istio_operationId']`, Istio's "Classifying
Metrics" task): no Wasm module runs here, so the label is empty. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pilotfish.config.kinds import TELEMETRY_KIND
from pilotfish.config.mesh_telemetry import (
    BACKEND_TRACERS,
    ENVOY_PROVIDER,
    OTEL_ALS,
    MeshTelemetry,
)
from pilotfish.config.objects import ConfigObject, Diagnostic
from pilotfish.registry.types import RegistrySnapshot
from pilotfish.telemetry.metrics import unconvertible_cel
from pilotfish.telemetry.policy import dynatrace_problem, otel_cluster
from pilotfish.telemetry.tracing import provider_host

PROMETHEUS = "prometheus"
SERVED = {  # section -> (its provider kinds served here, built-in names, what is lost)
    "accessLogging": (("envoyFileAccessLog", OTEL_ALS), (ENVOY_PROVIDER,), "nothing is logged"),
    "tracing": (("zipkin", "opentelemetry", *BACKEND_TRACERS), (), "no span is sent"),
    "metrics": ((PROMETHEUS,), (PROMETHEUS,), "no metric is exported"),
}
SECTION_FIELDS = {"accessLogging": "access_logging", "tracing": "tracing", "metrics": "metrics"}


def provider_notes(
    objects: Sequence[ConfigObject[Any]],
    mesh: MeshTelemetry,
    registry: RegistrySnapshot | None = None,
) -> list[Diagnostic]:
    """A warning per provider reference of each Telemetry in `objects` the mesh cannot serve
    (`registry`: the services an `envoyOtelAls` provider may name)."""
    found: list[Diagnostic] = []
    for obj in objects:
        if obj.meta.gvk.kind != TELEMETRY_KIND:
            continue
        for section, attribute in SECTION_FIELDS.items():
            kinds, builtins, lost = SERVED[section]
            for i, entry in enumerate(getattr(obj.spec, attribute)):
                for j, ref in enumerate(entry.providers):
                    name = str(ref.name or "")
                    provider = mesh.extension_provider(name)
                    kind = provider.kind if provider is not None else ""
                    why = _unserved(kind)
                    if provider is None and mesh.provider(name) is not None:  # Istio: none
                        why = (
                            "is defined by no extensionProviders entry of the mesh config (the "
                            "legacy tracer address is none: only tracing without a Telemetry "
                            "uses it)"
                        )
                    if kind in (OTEL_ALS, *BACKEND_TRACERS) and registry is not None:
                        assert provider is not None
                        if otel_cluster(registry, provider) is None:
                            why = (
                                f"sends to {provider_host(provider)}:{provider.port}, which is "
                                "not a service port of the mesh"
                            )
                            kind = ""  # noted
                    if provider is not None and (problem := dynatrace_problem(registry, provider)):
                        why, kind = (
                            f"has a dynatraceSampler Istio cannot configure: it {problem}",
                            "",
                        )
                    if not name or kind in kinds or (not kind and name in builtins):
                        continue
                    found.append(
                        Diagnostic(
                            "warning",
                            f'provider "{name}" {why}: {lost} for it',
                            path=f"spec.{section}[{i}].providers[{j}].name",
                            source=obj.meta.source,
                            kind=TELEMETRY_KIND,
                            name=f"{obj.meta.namespace}/{obj.meta.name}",
                        )
                    )
        found.extend(_tag_notes(obj))
    return found


WASM_STATE = re.compile(r"""filter_state\[\s*['"](wasm\.[^'"]+)['"]\s*\]""")


def _tag_notes(obj: ConfigObject[Any]) -> list[Diagnostic]:
    """A warning per metrics tagOverride value Envoy's CEL cannot take (`unconvertible_cel`),
    and per value that reads a Wasm plugin's filter state (attributegen's `wasm.<attribute>`),
    which no plugin writes here: the label is then empty."""
    found = []
    for i, section in enumerate(obj.spec.metrics):
        for j, override in enumerate(section.overrides):
            for tag, change in sorted(override.tag_overrides.items()):
                if change.operation == "REMOVE":
                    continue
                value = change.value or ""
                if unconvertible_cel(value):
                    message = (
                        "string() is taken here only around the whole value (Envoy's CEL has "
                        f"no string conversion): tag {tag!r} keeps its default value"
                    )
                elif (state := WASM_STATE.search(value)) is not None:
                    message = (
                        f"reads filter state {state.group(1)!r}, which only a Wasm plugin "
                        "(WasmPlugin, e.g. attributegen) sets, and these Envoys run none: tag "
                        f"{tag!r} is empty on every request; write the classification itself "
                        "in CEL here (e.g. \"request.method == 'GET' ? 'GetReview' : 'unknown'\")"
                    )
                else:
                    continue
                path = f"spec.metrics[{i}].overrides[{j}].tagOverrides.{tag}.value"
                found.append(obj.diagnostic(message, path))  # at the value's own line
    return found


def _unserved(kind: str) -> str:
    return (
        f"is an extension provider of type {kind}, which this version does not implement"
        if kind
        else "is defined by no extensionProviders entry of the mesh config"
    )
