"""Istio's Telemetry analyzers that read the mesh config's providers: IST0157 (an access-logging
entry with no provider while the mesh config names no default access-logging provider: Istio
ignores it; disabled entries are fine) and IST0002 (tracing through a Lightstep extension
provider, deprecated for OpenTelemetry). Pure.
"""

from __future__ import annotations

from pilotfish.config.analyzers.deprecations import deprecated
from pilotfish.config.analyzers.documents import as_list, as_map, spec_of
from pilotfish.config.analyzers.mesh_config import MeshInputs
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.objects import Telemetry


def empty_providers(telemetries: list[Telemetry], mesh: MeshInputs) -> list[AnalysisMessage]:
    defaults = as_map(mesh.config.get("defaultProviders"))
    if as_list(defaults.get("accessLogging")):
        return []
    out: list[AnalysisMessage] = []
    for telemetry in telemetries:
        for index, entry in enumerate(as_list(spec_of(telemetry).get("accessLogging"))):
            entry = as_map(entry)
            if entry.get("disabled") is True or as_list(entry.get("providers")):
                continue
            text = (
                f"The Telemetry {telemetry.meta.name} in namespace "
                f'"{telemetry.meta.namespace}" with empty providers will be ignored.'
            )
            path = f"spec.accessLogging[{index}]"
            out.append(message_for(telemetry, "Warning", "IST0157", text, path))
    return out


def lightstep_tracing(telemetries: list[Telemetry], mesh: MeshInputs) -> list[AnalysisMessage]:
    names = {p.get("name") for p in mesh.extension_providers() if "lightstep" in p}
    if not names:
        return []
    out: list[AnalysisMessage] = []
    for telemetry in telemetries:
        for tracing in as_list(spec_of(telemetry).get("tracing")):
            for provider in as_list(as_map(tracing).get("providers")):
                name = as_map(provider).get("name")
                if name in names:
                    detail = (
                        f"The Lightstep provider {name} is deprecated, please migrate to "
                        "OpenTelemetry provider."
                    )
                    out.append(deprecated(telemetry, detail))
    return out
