"""What a pod's annotations set on its sidecar, read the same way for Deployments, Pods and
pilotfish Workloads: Envoy's log levels (`sidecar.istio.io/logLevel` and `componentLogLevel`,
as Istio's injection template passes them to pilot-agent), its worker threads (ProxyConfig
`concurrency` in `proxy.istio.io/config`, `registry.drain`), whether the app waits for it
(`holdApplicationUntilProxyStarts`, the same annotation) and its bootstrap override
(`sidecar.istio.io/bootstrapOverride`, `registry.bootstrap_override`) and the proxy's
mounted files (`sidecar.istio.io/userVolume(Mount)`, `registry.user_volumes`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from pilotfish.registry.annotation_support import COMPONENT_LOG_LEVEL, LOG_LEVEL, envoy_log_levels
from pilotfish.registry.bootstrap_override import BOOTSTRAP_OVERRIDE, Override, pod_override
from pilotfish.registry.drain import annotation_concurrency, annotation_hold
from pilotfish.registry.env_sources import EnvSources
from pilotfish.registry.user_volumes import ProxyVolumes, annotation_errors, proxy_volumes
from pilotfish.registry.workloads import WorkloadSpec

Report = Callable[[str, str, str], None]  # (level, field path, message)


@dataclass(frozen=True)
class SidecarOptions:
    log_levels: tuple[str, str] | None = None  # Envoy's (--log-level, --component-log-level)
    concurrency: int | None = None
    override: Override = field(default_factory=Override)
    hold: bool | None = None  # holdApplicationUntilProxyStarts (None: the mesh's)
    volumes: ProxyVolumes = field(default_factory=ProxyVolumes)

    def applied(self, spec: WorkloadSpec) -> WorkloadSpec:
        """`spec` with these options (a missing override ConfigMap, or a missing Secret or
        ConfigMap of the proxy's volumes, keeps the pod waiting)."""
        missing = self.override.missing or self.volumes.missing
        return replace(
            spec,
            log_levels=self.log_levels,
            concurrency=self.concurrency,
            hold_application=self.hold,
            bootstrap_override=self.override.config,
            proxy_files=self.volumes.files,
            volume_error=missing,
            config_error=spec.config_error or missing,
        )


def sidecar_options(
    notes: Mapping[str, str],
    namespace: str,
    sources: EnvSources | None,
    prefix: str,
    report: Report,
) -> SidecarOptions | None:
    """The options of a pod with annotations `notes` (`prefix`: where its metadata is, e.g.
    `spec.template.`); None after reporting an error. `sources` (the ConfigMaps the mesh holds)
    None: not known (the CLI's check before sending), so no override is read."""
    errors: list[tuple[str, str]] = []
    levels = _log_levels(notes, errors)
    concurrency = annotation_concurrency(notes, errors)
    hold = annotation_hold(notes, errors)
    errors.extend(annotation_errors(notes))
    for path, message in errors:
        report("error", f"{prefix}{path}", message)
    if errors:
        return None
    maps = None if sources is None else sources.config_maps
    override = Override() if maps is None else pod_override(notes, namespace, maps)
    if override.warning:
        path = f"{prefix}metadata.annotations[{BOOTSTRAP_OVERRIDE}]"
        report("warning", path, override.warning)
    volumes = proxy_volumes(notes, namespace, sources)
    for path, message in volumes.warnings:
        report("warning", f"{prefix}{path}", message)
    return SidecarOptions(levels, concurrency, override, hold, volumes)


def _log_levels(notes: Mapping[str, str], errors: list[tuple[str, str]]) -> tuple[str, str] | None:
    level, components = notes.get(LOG_LEVEL, ""), notes.get(COMPONENT_LOG_LEVEL, "")
    for key, alone in ((LOG_LEVEL, (level, "")), (COMPONENT_LOG_LEVEL, ("", components))):
        try:
            envoy_log_levels(*alone)
        except ValueError as exc:
            errors.append((f"metadata.annotations[{key}]", str(exc)))
            return None
    return envoy_log_levels(level, components) if (level or components) else None


def with_sidecar_options(
    spec: WorkloadSpec | None, sources: EnvSources | None, report: Report
) -> WorkloadSpec | None:
    """A pilotfish Workload `spec` with the options its annotations set (None: an error)."""
    if spec is None:
        return None
    options = sidecar_options(dict(spec.annotations), spec.namespace, sources, "", report)
    return None if options is None else options.applied(spec)
