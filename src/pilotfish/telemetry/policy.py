"""The Telemetry API, resolved for one proxy, as Istio does it.

Telemetry objects apply at three levels: the root namespace (mesh-wide, no selector), the
proxy's namespace (no selector), and the workload (`selector.matchLabels` a subset of the
proxy's labels). For metrics, overrides accumulate in that order (later ones win) and the most
specific `providers` list (and `reportingInterval`) wins; the default provider is `prometheus`,
as in Istio's default `defaultProviders.metrics`. Access logging: see `access_logs`; tracing:
`tracing_policy`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pilotfish.config.durations import parse_duration
from pilotfish.config.kinds import TELEMETRY_KIND
from pilotfish.config.mesh_telemetry import ENVOY_PROVIDER, OTEL_ALS, Provider
from pilotfish.config.objects import ConfigObject
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot
from pilotfish.telemetry.access_log import OTEL_LOG_NAME, STDOUT, FileLog, OtelLog
from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.metrics import (
    DEFAULT_REPORTING_INTERVAL,
    STANDARD_METRICS,
    MetricsPolicy,
    TagOverride,
    reads_peer,
    unconvertible_cel,
)
from pilotfish.telemetry.tracing import provider_host, service_host

PROMETHEUS = "prometheus"
_MODES: dict[str | None, tuple[Reporter, ...]] = {
    None: (Reporter.SOURCE, Reporter.DESTINATION),
    "CLIENT_AND_SERVER": (Reporter.SOURCE, Reporter.DESTINATION),
    "CLIENT": (Reporter.SOURCE,),
    "SERVER": (Reporter.DESTINATION,),
}


def applicable(proxy: Proxy, push: PushContext) -> list[ConfigObject[Any]]:
    """Telemetry objects for this proxy, least specific first (root, namespace, workload)."""
    root = push.mesh.root_namespace
    labels = proxy.label_map
    levels: list[list[ConfigObject[Any]]] = [[], [], []]
    for telemetry in push.kind(TELEMETRY_KIND):
        selector = telemetry.spec.selector
        match_labels = dict(selector.match_labels or {}) if selector is not None else {}
        namespace = telemetry.meta.namespace
        if match_labels:
            if namespace == proxy.namespace and all(
                labels.get(k) == v for k, v in match_labels.items()
            ):
                levels[2].append(telemetry)
        elif namespace == proxy.namespace and namespace != root:
            levels[1].append(telemetry)
        elif namespace == root:
            levels[0].append(telemetry)
    return [t for level in levels for t in level]


def provider_names(refs: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(r.name) for r in refs if r.name)


def metrics_policy(proxy: Proxy, push: PushContext) -> MetricsPolicy:
    return _metrics_policy(applicable(proxy, push), push)


def peers_exchanged(push: PushContext) -> bool:
    """Whether a sidecar anywhere in the mesh may read its HTTP clients' identity (a request
    metric on its server side, `metrics.reads_peer`): else no client or gateway sends it and no
    server removes it (nothing reads it; measured: BENCHMARKS.md, "Nothing sent that nobody
    reads"). Conservative, from the Telemetry objects alone (once per push context): the
    root namespace's mesh-wide ones decide, and any other Telemetry with a `metrics` section
    may turn a server's metrics on again, so the exchange stays. The default (no Telemetry):
    every server counts, so every client sends, as Istio's."""

    def build() -> bool:
        root = push.mesh.root_namespace
        telemetries = push.kind(TELEMETRY_KIND)
        mesh_wide = [t for t in telemetries if t.meta.namespace == root and not _selects(t)]
        if reads_peer(_metrics_policy(mesh_wide, push), Reporter.DESTINATION):
            return True
        decided = {id(t) for t in mesh_wide}
        return any(t.spec.metrics for t in telemetries if id(t) not in decided)

    return push.memoized("pilotfish.telemetry.policy.peers_exchanged", build)


def _selects(telemetry: ConfigObject[Any]) -> bool:
    selector = telemetry.spec.selector
    return bool(selector is not None and selector.match_labels)


def _metrics_policy(telemetries: Iterable[ConfigObject[Any]], push: PushContext) -> MetricsPolicy:
    """The metrics of `telemetries` (least specific first) over the mesh config's default."""
    providers: tuple[str, ...] = push.mesh.telemetry.default_metrics_providers
    disabled: set[tuple[str, Reporter]] = set()
    overrides: list[TagOverride] = []
    interval = DEFAULT_REPORTING_INTERVAL
    all_enums = [m.enum for m in STANDARD_METRICS]
    for telemetry in telemetries:
        for section in telemetry.spec.metrics:
            if section.providers:
                providers = provider_names(section.providers)
            if section.reporting_interval:
                with contextlib.suppress(ValueError):  # validation rejects bad durations
                    interval = parse_duration(section.reporting_interval)
            for override in section.overrides:
                match = override.match
                metric = (match.metric if match is not None else None) or "ALL_METRICS"
                if match is not None and match.custom_metric:
                    continue  # custom metrics are not supported: nothing to match
                mode = match.mode if match is not None else None
                reporters = _MODES.get(mode if isinstance(mode, str) else None, _MODES[None])
                enums = all_enums if metric == "ALL_METRICS" else [metric]
                if override.disabled is not None:
                    for enum in enums:
                        for reporter in reporters:
                            if override.disabled:
                                disabled.add((enum, reporter))
                            else:
                                disabled.discard((enum, reporter))
                for tag, change in sorted(override.tag_overrides.items()):
                    if change.operation is not None and not isinstance(change.operation, str):
                        continue  # a number naming no operation: Istio passes an empty upsert,
                        # an expression Envoy's CEL refuses (the whole listener): left out
                    remove = change.operation == "REMOVE"
                    if not remove and unconvertible_cel(change.value or ""):
                        continue  # the tag keeps its default (`apply` warned)
                    only = reporters[0] if len(reporters) == 1 else None
                    overrides.append(TagOverride(metric, only, tag, remove, change.value or ""))
    enabled = any(_is_prometheus(name, push) for name in providers)
    return MetricsPolicy(
        enabled=enabled,
        reporting_interval=interval,
        disabled=frozenset(disabled),
        overrides=tuple(overrides),
    )


def _is_prometheus(name: str, push: PushContext) -> bool:
    return name == PROMETHEUS or push.mesh.telemetry.provider_kind(name) == PROMETHEUS


def mode_matches(mode: str | int | None, reporter: Reporter, gateway: bool) -> bool:
    """Whether a selector's `mode` takes this side (a number naming no mode: neither, as in
    Istio, where it equals neither CLIENT nor SERVER; an override's number takes both)."""
    if mode in (None, "CLIENT_AND_SERVER"):
        return True
    if gateway:  # Istio logs a gateway's requests as the server side
        return mode == "SERVER"
    return isinstance(mode, str) and _MODES[mode] == (reporter,)


def access_logs(proxy: Proxy, push: PushContext, reporter: Reporter) -> list[FileLog | OtelLog]:
    """The access logs of one listener side, as Istio resolves them (`mergeLogs` in
    pilot/pkg/model/telemetry.go): the providers are those the most specific Telemetry naming any
    for this side names (each Telemetry's entries together), else `defaultProviders.accessLogging`
    (also with no Telemetry at all); per provider, the last entry for this side decides
    (`disabled`, `filter.expression`); an entry naming none stands for the providers the one
    before it named (none without defaults: Istio ignores such an entry, IST0157). Sorted by
    provider name. With nothing resolved, the mesh config's `accessLogFile`."""
    mesh = push.mesh.telemetry
    defaults = mesh.default_access_log_providers
    telemetries = [t for t in applicable(proxy, push) if t.spec.access_logging]
    decided: dict[str, str | None] = {}  # provider -> CEL filter ("" = all), None = disabled
    if not telemetries and mesh.default_access_log_providers:
        decided = dict.fromkeys(mesh.default_access_log_providers, "")
    in_scope, filters = set(defaults), {}
    for telemetry in telemetries:
        named: set[str] = set()
        for entry in telemetry.spec.access_logging:
            if mode_matches(entry.match.mode if entry.match else None, reporter, proxy.is_gateway):
                expression = entry.filter.expression if entry.filter is not None else None
                names = provider_names(entry.providers)
                named.update(names)
                filters.update(dict.fromkeys(names, expression or ""))
        in_scope = named or in_scope
    parent = defaults
    for entry in (e for t in telemetries for e in t.spec.access_logging):
        names = provider_names(entry.providers) or parent
        parent = names
        if not mode_matches(entry.match.mode if entry.match else None, reporter, proxy.is_gateway):
            continue
        for name in (n for n in names if n in in_scope):
            decided[name] = None if entry.disabled else filters.get(name, "")
    resolved = {n: (log, e) for n, e in decided.items() if (log := _provider_log(push, n))}
    if not resolved:  # Istio's fallback when no provider resolves: the mesh's accessLogFile
        return [_mesh_file_log(push, mesh.access_log_file)] if mesh.access_log_file else []
    return [replace(log, filter=e) for _, (log, e) in sorted(resolved.items()) if e is not None]


def _mesh_file_log(push: PushContext, path: str) -> FileLog:
    mesh = push.mesh.telemetry
    return FileLog(path=path, text=mesh.access_log_format, json=mesh.access_log_encoding == "JSON")


def _provider_log(push: PushContext, name: str) -> FileLog | OtelLog | None:
    provider = push.mesh.telemetry.provider(name)
    if provider is None:
        return _mesh_file_log(push, STDOUT) if name == ENVOY_PROVIDER else None
    if provider.kind == OTEL_ALS:
        return otel_log(push, provider)
    if provider.kind != "envoyFileAccessLog":
        return None
    return FileLog(path=provider.path or STDOUT, text=provider.text_format, labels=provider.labels)


def otel_cluster(registry: RegistrySnapshot, provider: Provider) -> tuple[str, str] | None:
    """(outbound cluster, hostname) an `envoyOtelAls` provider (or a Datadog or SkyWalking
    tracer, `tracing_policy`) sends to: its service's port in the registry (Istio's
    `LookupCluster`); None when the mesh has no such service port,
    and then nothing is logged for it, as in Istio (`apply` says so: `provider_notes`)."""
    host = provider_host(provider)
    service = registry.service(host)
    if service is None or all(port.port != provider.port for port in service.ports):
        return None
    return f"outbound|{provider.port}||{host}", host


def dynatrace_problem(registry: RegistrySnapshot | None, provider: Provider) -> str:
    """Why Istio cannot configure an `opentelemetry` provider's dynatraceSampler (its
    configureDynatraceSampler errors, and then the provider traces nothing), "" when it can:
    without an httpService it needs the exporter's `http`; with one, a service port of the mesh
    (LookupCluster; not checked without `registry`)."""
    sampler = provider.dynatrace_sampler
    if sampler is None:
        return ""
    if not sampler.service:
        return "" if provider.otel_http else "has no httpService and the exporter is not `http`"
    host = service_host(sampler.service)
    service = registry.service(host) if registry is not None else None
    if registry is not None and (
        service is None or all(port.port != sampler.port for port in service.ports)
    ):
        return f"asks {host}:{sampler.port}, which is not a service port of the mesh"
    return ""


def otel_log(push: PushContext, provider: Provider) -> OtelLog | None:
    found = otel_cluster(push.registry, provider)
    if found is None:
        return None
    cluster, host = found
    name = provider.log_name or OTEL_LOG_NAME
    return OtelLog(cluster, host, name, text=provider.text_format, labels=provider.labels)
