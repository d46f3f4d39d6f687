"""Tracing as Istio configures it: one provider (`zipkin` or `opentelemetry` from the mesh
config's `extensionProviders`, or the legacy Zipkin address), Istio's default 1% random sampling
(`defaultConfig.tracing.sampling`; the Telemetry API's `randomSamplingPercentage` wins), client
and overall sampling 100% (so an `x-b3-sampled`/`traceparent` decision from the caller is
honoured; for OpenTelemetry the rate and the caller's decision are its tracer's parent-based
sampler's), Istio's span tags (`istio.canonical_service`, …) plus `customTags`
(literal, environment, header), `disableSpanReporting` and `disableContextPropagation`
(Envoy's `no_context_propagation`), and an OpenTelemetry provider's resource detectors and
Dynatrace sampler (Istio's otelConfig / configureDynatraceSampler).

The provider's `service` names a host: a registry service's outbound cluster when the mesh has
it, else the mesh's own trace collector (`pilotfish.ui.collector`, which `pilotfish up` starts)
behind a static cluster named after that collector (`own_collector_cluster`), which takes
Zipkin, OTLP/HTTP and OTLP over gRPC (`collector_ports`).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, grpc_service_pb2, http_uri_pb2
from envoy.config.core.v3 import extension_pb2 as core_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.trace.v3 import (
    datadog_pb2,
    http_tracer_pb2,
    opentelemetry_pb2,
    skywalking_pb2,
    zipkin_pb2,
)
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.request_id.uuid.v3 import uuid_pb2
from envoy.extensions.tracers.opentelemetry.resource_detectors.v3 import (
    dynatrace_resource_detector_pb2,
    environment_resource_detector_pb2,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3 import (
    dynatrace_sampler_pb2,
    parent_based_sampler_pb2,
    trace_id_ratio_based_sampler_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as upstream_http_pb2
from envoy.type.tracing.v3 import custom_tag_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from pilotfish.config.hosts import CLUSTER_DOMAIN
from pilotfish.config.mesh_telemetry import DynatraceSampler, Provider
from pilotfish.telemetry.envoy import alt_stat_name, pack
from pilotfish.telemetry.exchange import Identity
from pilotfish.telemetry.identity_env import TRACE_TAGS, trace_tag_values

ZIPKIN_PATH = "/api/v2/spans"
ZIPKIN_PORT = 9411
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OTLP_HTTP_PATH = "/v1/traces"
NO_CONTEXT_PROPAGATION = b"\x68\x01"
"""`HttpConnectionManager.Tracing.no_context_propagation: true` serialised (field 13, a varint;
the last field, so appended it keeps field order): Envoy 1.40 has it, the xds-protos release
here does not yet."""


@dataclass(frozen=True)
class TracingSettings:
    """The tracing of one proxy, resolved (see `tracing_policy`)."""

    provider: Provider | None  # None: Envoy traces with no tracer (Istio's default install)
    cluster: str  # the collector's cluster ("" with no provider)
    sampling: float  # percent
    custom_tags: tuple[tuple[str, str, str, str], ...] = ()  # (tag, kind, name|value, default)
    gateway: bool = False
    istio_tags: bool = True  # Istio's span tags (`enableIstioTags`)
    max_path_tag_length: int = 0  # 0: Envoy's default (256)
    use_request_id: bool = True  # Telemetry useRequestIdForTraceSampling
    propagate: bool = True  # Telemetry disableContextPropagation: false


def provider_host(provider: Provider, namespace: str = "istio-system") -> str:
    """`zipkin.istio-system` or `zipkin` -> `zipkin.istio-system.svc.cluster.local`; a `ns/host`
    prefix is dropped; other names stay."""
    return service_host(provider.service, namespace)


def service_host(service: str, namespace: str = "istio-system") -> str:
    """A provider's `service` as a host name (`provider_host`)."""
    host = service.split("/", 1)[-1]
    parts = host.split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"
    if len(parts) == 2:
        return f"{host}.svc.{CLUSTER_DOMAIN}"
    return host


def provider_port(provider: Provider) -> int:
    return provider.port or (ZIPKIN_PORT if provider.kind == "zipkin" else 4318)


def own_collector_cluster(port: int) -> str:
    """The cluster to the mesh's own collector on `port`, named after the collector rather than
    after the provider pointing at it: a change of provider keeps it, so the replaced tracer,
    alive on draining connections for a moment, still gets its spans through."""
    return f"trace-collector|{port}"


def otlp_grpc(provider: Provider) -> bool:
    """An `opentelemetry` provider sending OTLP over gRPC (its default; `http:` makes it
    OTLP/HTTP)."""
    return provider.kind == "opentelemetry" and not provider.otel_http


def collector_cluster(
    name: str, address: str, port: int, grpc: bool = False
) -> cluster_pb2.Cluster:
    """A static cluster to the mesh's own trace collector (HTTP/2 for OTLP over gRPC)."""
    endpoint = ep_pb2.LbEndpoint(
        endpoint=ep_pb2.Endpoint(
            address={"socket_address": {"address": address, "port_value": port}}
        )
    )
    cluster = cluster_pb2.Cluster(
        name=name,
        alt_stat_name=alt_stat_name(name),
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=1),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name, endpoints=[ep_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])]
        ),
    )
    if grpc:
        options = upstream_http_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[HTTP_OPTIONS].CopyFrom(pack(options))
    return cluster


def _provider_config(
    settings: TracingSettings, provider: Provider, me: Identity
) -> http_tracer_pb2.Tracing.Http:
    host = provider_host(provider)
    if provider.kind == "zipkin":
        config = zipkin_pb2.ZipkinConfig(
            collector_cluster=settings.cluster,
            collector_endpoint=provider.path or ZIPKIN_PATH,
            collector_endpoint_version=zipkin_pb2.ZipkinConfig.HTTP_JSON,
            collector_hostname=host,
            trace_id_128bit=not provider.trace_id_64bit,
            shared_span_context=wrappers_pb2.BoolValue(value=False),
        )
        if provider.timeout or provider.headers:  # Istio 1.29+'s HttpService, which has them
            config.ClearField("collector_cluster")
            config.ClearField("collector_endpoint")
            config.ClearField("collector_hostname")
            service = config.collector_service
            service.http_uri.uri = f"http://{host}{provider.path or ZIPKIN_PATH}"
            service.http_uri.cluster = settings.cluster
            service.http_uri.timeout.CopyFrom(_duration(provider.timeout or 5.0))
            service.request_headers_to_add.extend(_header_options(provider.headers))
        if provider.b3_and_w3c:
            config.trace_context_option = zipkin_pb2.ZipkinConfig.USE_B3_WITH_W3C_PROPAGATION
        return http_tracer_pb2.Tracing.Http(name="envoy.tracers.zipkin", typed_config=pack(config))
    if provider.kind == "datadog":  # Istio's datadogConfig: the proxy's service cluster
        datadog = datadog_pb2.DatadogConfig(
            collector_cluster=settings.cluster,
            service_name=f"{me.canonical_service}.{me.namespace}",
            collector_hostname=host,
        )
        return http_tracer_pb2.Tracing.Http(
            name="envoy.tracers.datadog", typed_config=pack(datadog)
        )
    if provider.kind == "skywalking":
        sky = skywalking_pb2.SkyWalkingConfig()
        sky.grpc_service.envoy_grpc.cluster_name = settings.cluster
        sky.grpc_service.envoy_grpc.authority = host
        return http_tracer_pb2.Tracing.Http(name="envoy.tracers.skywalking", typed_config=pack(sky))
    otel = opentelemetry_pb2.OpenTelemetryConfig(
        service_name=f"{me.canonical_service}.{me.namespace}", sampler=_parent_based(settings)
    )
    if provider.otel_http:
        otel.http_service.http_uri.CopyFrom(
            http_uri_pb2.HttpUri(
                uri=f"http://{host}:{provider_port(provider)}{provider.path or OTLP_HTTP_PATH}",
                cluster=settings.cluster,
                timeout=_duration(provider.timeout or 5.0),
            )
        )
        otel.http_service.request_headers_to_add.extend(_header_options(provider.headers))
    else:
        otel.grpc_service.CopyFrom(
            grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                    cluster_name=settings.cluster, authority=host
                )
            )
        )
        if provider.timeout:
            otel.grpc_service.timeout.CopyFrom(_duration(provider.timeout))
        for name, value in provider.headers:
            otel.grpc_service.initial_metadata.add(key=name, value=value)
    if provider.environment_detector:
        otel.resource_detectors.add(
            name="envoy.tracers.opentelemetry.resource_detectors.environment",
            typed_config=pack(
                environment_resource_detector_pb2.EnvironmentResourceDetectorConfig()
            ),
        )
    if provider.dynatrace_detector:
        otel.resource_detectors.add(
            name="envoy.tracers.opentelemetry.resource_detectors.dynatrace",
            typed_config=pack(dynatrace_resource_detector_pb2.DynatraceResourceDetectorConfig()),
        )
    if provider.dynatrace_sampler is not None:
        otel.sampler.CopyFrom(_dynatrace_sampler(settings, provider, provider.dynatrace_sampler))
    return http_tracer_pb2.Tracing.Http(name="envoy.tracers.opentelemetry", typed_config=pack(otel))


def _dynatrace_sampler(
    settings: TracingSettings, provider: Provider, sampler: DynatraceSampler
) -> core_pb2.TypedExtensionConfig:
    """Istio's configureDynatraceSampler: the sampler asks its own httpService (a service port
    of the mesh, `policy.dynatrace_problem`), else the OTLP/HTTP exporter's host, cluster,
    timeout and headers, at `api/v2/samplingConfiguration`. The timeout is 5 s unless set, as
    for the exporter (Envoy requires one)."""
    config = dynatrace_sampler_pb2.DynatraceSamplerConfig(
        tenant=sampler.tenant,
        cluster_id=sampler.cluster_id,
        root_spans_per_minute=sampler.root_spans_per_minute,
    )
    if sampler.service:
        host, path = service_host(sampler.service), sampler.path
        cluster, timeout = f"outbound|{sampler.port}||{host}", sampler.timeout
        headers = _header_options(sampler.headers)
    else:
        host, path = provider_host(provider), "api/v2/samplingConfiguration"
        cluster, timeout = settings.cluster, provider.timeout
        headers = _header_options(provider.headers)
    uri = config.http_service.http_uri
    uri.uri = f"{host}/{path.lstrip('/')}"  # Go's url.JoinPath, as Istio writes it
    uri.cluster = cluster
    uri.timeout.CopyFrom(_duration(timeout or 5.0))
    config.http_service.request_headers_to_add.extend(headers)
    return core_pb2.TypedExtensionConfig(
        name="envoy.tracers.opentelemetry.samplers.dynatrace", typed_config=pack(config)
    )


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def _header_options(headers: tuple[tuple[str, str], ...]) -> list[base_pb2.HeaderValueOption]:
    """Istio's buildHTTPHeaders: each header set, overwriting one the request has."""
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    return [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=name, value=value), append_action=overwrite
        )
        for name, value in headers
    ]


def _parent_based(settings: TracingSettings) -> core_pb2.TypedExtensionConfig:
    """OpenTelemetry's parent-based sampler around a trace-id ratio of the sampling percentage:
    a caller's `traceparent` decides (`-01` sampled, `-00` not), a request without one is
    sampled at the rate. Envoy 1.40's tracer otherwise follows only its connection manager's
    random decision, and drops a sampled caller's trace 99 times in 100 at Istio's 1%."""
    ratio = trace_id_ratio_based_sampler_pb2.TraceIdRatioBasedSamplerConfig(
        sampling_percentage=percent_pb2.FractionalPercent(
            numerator=round(settings.sampling * 10_000),
            denominator=percent_pb2.FractionalPercent.MILLION,
        )
    )
    parent = parent_based_sampler_pb2.ParentBasedSamplerConfig(
        wrapped_sampler=core_pb2.TypedExtensionConfig(
            name="envoy.tracers.opentelemetry.samplers.trace_id_ratio_based",
            typed_config=pack(ratio),
        )
    )
    return core_pb2.TypedExtensionConfig(
        name="envoy.tracers.opentelemetry.samplers.parent_based", typed_config=pack(parent)
    )


def _tags(settings: TracingSettings, me: Identity, env: bool) -> list[custom_tag_pb2.CustomTag]:
    """Istio's tags (`env`: its Envoy holds the identity's values, `identity_env`), then the
    custom tags."""
    istio = trace_tag_values(me) | {"istio.mesh_id": CLUSTER_DOMAIN}
    tags = []
    for tag, value in istio.items() if settings.istio_tags else ():
        if env and tag in TRACE_TAGS:
            variable = custom_tag_pb2.CustomTag.Environment(name=TRACE_TAGS[tag])
            tags.append(custom_tag_pb2.CustomTag(tag=tag, environment=variable))
        else:
            literal = custom_tag_pb2.CustomTag.Literal(value=value)
            tags.append(custom_tag_pb2.CustomTag(tag=tag, literal=literal))
    for tag, kind, name, default in settings.custom_tags:
        if kind == "literal":
            tags.append(
                custom_tag_pb2.CustomTag(
                    tag=tag, literal=custom_tag_pb2.CustomTag.Literal(value=name)
                )
            )
        elif kind == "environment":
            env = custom_tag_pb2.CustomTag.Environment(name=name, default_value=default)
            tags.append(custom_tag_pb2.CustomTag(tag=tag, environment=env))
        elif kind == "header":
            header = custom_tag_pb2.CustomTag.Header(name=name, default_value=default)
            tags.append(custom_tag_pb2.CustomTag(tag=tag, request_header=header))
        elif kind == "formatter":
            tags.append(custom_tag_pb2.CustomTag(tag=tag, value=name))
    return sorted(tags, key=lambda t: t.tag)


def hcm_tracing(
    settings: TracingSettings, me: Identity, env: bool = False
) -> hcm_pb2.HttpConnectionManager.Tracing:
    provider = settings.provider
    # OpenTelemetry: every request reaches the tracer, whose sampler decides (`_parent_based`)
    otel = provider is not None and provider.kind == "opentelemetry"
    tracing = hcm_pb2.HttpConnectionManager.Tracing(
        client_sampling=percent_pb2.Percent(value=100.0),
        overall_sampling=percent_pb2.Percent(value=100.0),
        random_sampling=percent_pb2.Percent(value=100.0 if otel else settings.sampling),
        custom_tags=_tags(settings, me, env),
    )
    if provider is not None:
        tracing.provider.CopyFrom(_provider_config(settings, provider, me))
    if settings.max_path_tag_length:
        tracing.max_path_tag_length.value = settings.max_path_tag_length
    if provider is not None and (settings.gateway or provider.kind == "skywalking"):
        tracing.spawn_upstream_span.value = True  # Istio: a router's, or SkyWalking's
    return tracing


def tracing_bytes(tracing: hcm_pb2.HttpConnectionManager.Tracing, propagate: bool) -> bytes:
    """The serialised `tracing` block; without `propagate`, Envoy's no_context_propagation
    (Istio's disableContextPropagation: spans are still reported, no trace headers go
    upstream)."""
    data = bytes(tracing.SerializeToString(deterministic=True))
    return data if propagate else data + NO_CONTEXT_PROPAGATION


def request_id_extension(settings: TracingSettings) -> bytes:
    """The connection manager's serialised `request_id_extension` when the tracing does not
    sample by the request id (Istio's UUIDRequestIDExtension with it false); b"" otherwise
    (Envoy's default: the UUID extension, sampling by it)."""
    if settings.use_request_id:
        return b""
    uuid = uuid_pb2.UuidRequestIdConfig()
    uuid.use_request_id_for_trace_sampling.value = False
    return bytes(hcm_pb2.RequestIDExtension(typed_config=pack(uuid)).SerializeToString())


def collector_ports(
    providers: tuple[Provider, ...], registry_hosts: set[str]
) -> list[tuple[int, bool]]:
    """(port, gRPC?) the mesh's own collector must listen on: one per Zipkin or OpenTelemetry
    provider whose host is not a service of the mesh, OTLP over gRPC on the ports of gRPC
    providers (Istio's Jaeger and OpenTelemetry tracing tasks: 4317), and then the Zipkin port
    too, where its query API reads the spans."""
    outside = [
        p
        for p in providers
        if p.kind in ("zipkin", "opentelemetry") and provider_host(p) not in registry_hosts
    ]
    http = {provider_port(p) for p in outside if not otlp_grpc(p)}
    grpc = {provider_port(p) for p in outside if otlp_grpc(p)} - http
    if grpc:
        http.add(ZIPKIN_PORT)
    return sorted([(port, False) for port in http] + [(port, True) for port in grpc - http])
