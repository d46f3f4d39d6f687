"""`apply`'s word on a Telemetry that names an extension provider the mesh cannot serve, instead
of silence: a provider no `extensionProviders` entry (nor a built-in name) defines, or one of a
kind this version does not implement (`envoyOtelAls`, `envoyHttpAls`, `envoyTcpAls`, Datadog,
SkyWalking, Stackdriver, ...; `mesh_telemetry.UNSUPPORTED_KINDS`), which the mesh config
accepts as Istio does but which then sends nothing. Built-ins: `envoy` (the file access log on
stdout) and `prometheus`. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilotfish.config.kinds import TELEMETRY_KIND
from pilotfish.config.mesh_telemetry import ENVOY_PROVIDER, MeshTelemetry
from pilotfish.config.objects import ConfigObject, Diagnostic

PROMETHEUS = "prometheus"
SERVED = {  # section -> (its provider kinds served here, built-in names, what is lost)
    "accessLogging": (("envoyFileAccessLog",), (ENVOY_PROVIDER,), "nothing is logged"),
    "tracing": (("zipkin", "opentelemetry"), (), "no span is sent"),
    "metrics": ((PROMETHEUS,), (PROMETHEUS,), "no metric is exported"),
}
SECTION_FIELDS = {"accessLogging": "access_logging", "tracing": "tracing", "metrics": "metrics"}


def provider_notes(objects: Sequence[ConfigObject[Any]], mesh: MeshTelemetry) -> list[Diagnostic]:
    """A warning per provider reference of each Telemetry in `objects` the mesh cannot serve."""
    found: list[Diagnostic] = []
    for obj in objects:
        if obj.meta.gvk.kind != TELEMETRY_KIND:
            continue
        for section, attribute in SECTION_FIELDS.items():
            kinds, builtins, lost = SERVED[section]
            for i, entry in enumerate(getattr(obj.spec, attribute)):
                for j, ref in enumerate(entry.providers):
                    name = str(ref.name or "")
                    kind = mesh.provider_kind(name)
                    if not name or kind in kinds or (not kind and name in builtins):
                        continue
                    why = (
                        f"is an extension provider of type {kind}, which this version does not "
                        "implement"
                        if kind
                        else "is defined by no extensionProviders entry of the mesh config"
                    )
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
    return found
