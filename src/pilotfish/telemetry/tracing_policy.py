"""`tracing_settings(proxy, push, reporter)`: the tracing of one side of a proxy, resolved as
istiod does (`Telemetries.Tracing` and `configureTracingFromTelemetry`).

- No Telemetry `tracing` applies and the mesh names no `defaultProviders.tracing`: the mesh
  config alone decides. `enableTracing: false` means none; else (Istio's default install) the
  connection managers trace with no provider of their own: the proxy's ProxyConfig sampling
  (istiod's 1% unless set), Istio's span tags (unless `enableIstioTags: false`) and the
  ProxyConfig's custom tags and `max_path_tag_length`. So Envoy decides sampling and sets
  `x-envoy-decorator-operation` on its outbound requests, and spans go nowhere, unless the
  ProxyConfig has the legacy Zipkin (or Datadog: to a service port of the mesh only) address
  (the pod's own ProxyConfig's, which replaces the mesh's whole; else the mesh's, or the
  istio-tracing ConfigMap's): then to it. In Istio that
  address is the bootstrap's tracer, which only such a block without a provider uses.
- Otherwise the Telemetry API: `enableTracing` is not read; the first provider of the most
  specific entry naming one, else the first default provider, looked up among
  `extensionProviders` (the legacy address is none of them); none found, or
  `disableSpanReporting`: no tracing block at all, so not even the legacy address gets spans
  (Istio disables a spec without a provider). Sampling: `randomSamplingPercentage`, else the
  ProxyConfig's. Custom tags: the last entry's `customTags` map whole, else the ProxyConfig's.
  Path tag length: the provider's `maxTagLength`, else the ProxyConfig's.
  `useRequestIdForTraceSampling: false`: the connection manager's UUID request id extension
  says so (Istio's; true is Envoy's default, which Istio writes out).
  `disableContextPropagation: true`: Envoy's `no_context_propagation` (Istio 1.30+): spans are
  reported, no trace context headers are sent upstream.

The ProxyConfig is the pod's own `tracing` (its `proxy.istio.io/config` annotation), else the
mesh's `defaultConfig.tracing`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from google.protobuf.message import Message

from pilotfish.config.mesh_telemetry import BACKEND_TRACERS, MeshTelemetry, Provider, legacy_tracer
from pilotfish.config.proxy_tracing import ProxyTracing, sampling_value
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.policy import (
    applicable,
    dynatrace_problem,
    mode_matches,
    otel_cluster,
    provider_names,
)
from pilotfish.telemetry.tracing import (
    TracingSettings,
    collector_cluster,
    otlp_grpc,
    own_collector_cluster,
    provider_host,
    provider_port,
)

TRACING_KINDS = ("zipkin", "opentelemetry", *BACKEND_TRACERS)


def tracing_settings(proxy: Proxy, push: PushContext, reporter: Reporter) -> TracingSettings | None:
    mesh = push.mesh.telemetry
    own = proxy.tracing if proxy.tracing is not None else mesh.tracing
    entries = [entry for telemetry in applicable(proxy, push) for entry in telemetry.spec.tracing]
    if not entries and not mesh.default_tracing_providers:
        if not mesh.enable_tracing:
            return None
        legacy = _legacy_tracer(proxy, mesh)
        if legacy is not None and legacy.kind in BACKEND_TRACERS:  # Datadog: to the mesh only
            legacy = legacy if otel_cluster(push.registry, legacy) is not None else None
        istio_tags = own is None or own.enable_istio_tags
        return _settings(proxy, push, legacy, sampling_value(own), _own_tags(own), own, istio_tags)
    providers = mesh.default_tracing_providers
    sampling: float | None = None
    disabled = False
    tags: dict[str, tuple[str, str, str]] | None = None
    istio_tags = use_request_id = propagate = True
    for entry in entries:
        if not mode_matches(entry.match.mode if entry.match else None, reporter, False):
            continue
        providers = provider_names(entry.providers) or providers
        if entry.random_sampling_percentage is not None:
            sampling = float(entry.random_sampling_percentage)
        if entry.disable_span_reporting is not None:
            disabled = bool(entry.disable_span_reporting)
        if entry.custom_tags:
            tags = {tag: _custom_tag(custom) for tag, custom in entry.custom_tags.items()}
        if entry.enable_istio_tags is not None:
            istio_tags = bool(entry.enable_istio_tags)
        if entry.use_request_id_for_trace_sampling is not None:
            use_request_id = bool(entry.use_request_id_for_trace_sampling)
        if entry.disable_context_propagation is not None:
            propagate = not entry.disable_context_propagation
    provider = mesh.extension_provider(providers[0]) if providers else None
    if disabled or provider is None or provider.kind not in TRACING_KINDS:
        return None
    if provider.kind in BACKEND_TRACERS and otel_cluster(push.registry, provider) is None:
        return None  # Istio's LookupCluster fails: no tracing (`provider_notes` says so)
    if dynatrace_problem(push.registry, provider):
        return None  # Istio's configureDynatraceSampler fails: no tracing (noted too)
    rate = sampling if sampling is not None else sampling_value(own)
    custom = _own_tags(own) if tags is None else tuple((k, *v) for k, v in sorted(tags.items()))
    found = _settings(proxy, push, provider, rate, custom, own, istio_tags)
    return replace(found, use_request_id=use_request_id, propagate=propagate)


def trace_collector_cluster(push: PushContext, settings: TracingSettings) -> Message | bool | None:
    """The cluster spans go to: True when the registry has the provider's service (its outbound
    cluster exists) or there is no provider, the mesh's own collector otherwise, None when
    there is none."""
    provider = settings.provider
    if provider is None:
        return True
    host = provider_host(provider)
    if push.registry.service(host) is not None:
        return True
    address = push.mesh.trace_collector_address
    if not address:
        return None
    port, grpc = provider_port(provider), otlp_grpc(provider)
    return collector_cluster(settings.cluster, address, port, grpc)


def _legacy_tracer(proxy: Proxy, mesh: MeshTelemetry) -> Provider | None:
    """The legacy Zipkin address's tracer for this proxy: its own ProxyConfig's when it has one
    (which replaces the mesh's whole, address and all), else the mesh's (the istio-tracing
    ConfigMap's is no ProxyConfig's: no pod's replaces it)."""
    own = proxy.tracing
    if own is not None and (found := legacy_tracer(own)) is not None:
        return found
    if own is not None and legacy_tracer(mesh.tracing) is not None:
        return None
    return mesh.legacy_tracer


def _settings(
    proxy: Proxy,
    push: PushContext,
    provider: Any,
    sampling: float,
    tags: tuple[tuple[str, str, str, str], ...],
    own: ProxyTracing | None,
    istio_tags: bool,
) -> TracingSettings:
    length = own.max_path_tag_length if own is not None else 0
    cluster = ""
    if provider is not None:
        length = 0 if provider.kind == "skywalking" else provider.max_tag_length or length
        host, port = provider_host(provider), provider_port(provider)
        in_mesh = push.registry.service(host) is not None
        cluster = f"outbound|{port}||{host}" if in_mesh else own_collector_cluster(port)
    return TracingSettings(
        provider=provider,
        cluster=cluster,
        sampling=sampling,
        custom_tags=tuple(t for t in tags if t[1]),
        gateway=proxy.is_gateway,
        istio_tags=istio_tags,
        max_path_tag_length=length,
    )


def _own_tags(own: ProxyTracing | None) -> tuple[tuple[str, str, str, str], ...]:
    return own.custom_tags if own is not None else ()


def _custom_tag(custom: Any) -> tuple[str, str, str]:
    if custom.literal is not None:
        return ("literal", str(custom.literal.value or ""), "")
    if custom.environment is not None:
        env = custom.environment
        return ("environment", str(env.name or ""), str(env.default_value or ""))
    if custom.header is not None:
        header = custom.header
        return ("header", str(header.name or ""), str(header.default_value or ""))
    if custom.formatter is not None:  # Istio 1.29+: Envoy's substitution format
        return ("formatter", str(custom.formatter.value or ""), "")
    return ("", "", "")
