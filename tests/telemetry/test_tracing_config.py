"""Unit tests: the tracing a proxy's HTTP connection managers get (providers, Istio's default 1%
sampling, Telemetry overrides) and the collector cluster when the mesh has no such service."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.trace.v3 import opentelemetry_pb2, zipkin_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3 import (
    parent_based_sampler_pb2,
    trace_id_ratio_based_sampler_pb2,
)
from envoy.type.v3 import percent_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.mesh_telemetry import MeshTelemetry, parse_mesh_telemetry, with_legacy_tracing
from pilotfish.model.push_context import PushContext
from pilotfish.translate import ProxyResources, generate
from pilotfish.type_urls import CLUSTER, LISTENER

SAMPLING_50 = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: default}
spec:
  tracing: [{randomSamplingPercentage: 50, customTags: {env: {environment: {name: ENV}}}}]
"""


def _traced(
    config_yaml: str = "", address: str = "127.9.0.1", mesh: MeshTelemetry | None = None
) -> tuple[PushContext, ProxyResources]:
    push = bookinfo_push(config_yaml)
    legacy = "http://zipkin.istio-system:9411/api/v2/spans"
    telemetry = mesh or with_legacy_tracing(MeshTelemetry(), legacy)
    push = replace(
        push, mesh=replace(push.mesh, telemetry=telemetry, trace_collector_address=address)
    )
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    return push, generate(proxy, push)


def _tracing(resources: ProxyResources) -> hcm_pb2.HttpConnectionManager.Tracing:
    listener = next(v for k, v in resources[LISTENER].items() if k.startswith("inbound_"))
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager.tracing


def test_legacy_zipkin_address_with_istios_default_sampling() -> None:
    _, resources = _traced()
    tracing = _tracing(resources)
    assert tracing.random_sampling.value == 1.0
    assert (tracing.client_sampling.value, tracing.overall_sampling.value) == (100.0, 100.0)
    zipkin = zipkin_pb2.ZipkinConfig()
    tracing.provider.typed_config.Unpack(zipkin)
    name = "trace-collector|9411"  # the mesh's own collector: no zipkin service in the mesh
    assert (zipkin.collector_cluster, zipkin.collector_endpoint) == (name, "/api/v2/spans")
    assert zipkin.collector_hostname == "zipkin.istio-system.svc.cluster.local"
    cluster = resources[CLUSTER][name]
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
    assert (address.socket_address.address, address.socket_address.port_value) == (
        "127.9.0.1",
        9411,
    )
    assert {t.tag for t in tracing.custom_tags} >= {"istio.canonical_service", "istio.namespace"}


def test_telemetry_sampling_and_environment_tag() -> None:
    """With the mesh's default provider (the legacy address is none: `test_tracing_defaults`)."""
    errors: list[tuple[str, str]] = []
    provider = {"name": "zipkin", "zipkin": {"service": "zipkin.istio-system", "port": 9411}}
    mesh = parse_mesh_telemetry(
        {"extensionProviders": [provider], "defaultProviders": {"tracing": ["zipkin"]}}, errors
    )
    assert not errors
    _, resources = _traced(SAMPLING_50, mesh=mesh)
    tracing = _tracing(resources)
    assert tracing.random_sampling.value == 50.0
    env = next(t for t in tracing.custom_tags if t.tag == "env")
    assert env.environment.name == "ENV"


def test_no_collector_address_means_no_tracing() -> None:
    _, resources = _traced(address="")
    assert not _tracing(resources).HasField("provider")


def test_a_provider_change_keeps_the_cluster_of_the_meshs_own_collector() -> None:
    """The replaced tracer lives on while its listener drains: its cluster must stay."""
    errors: list[tuple[str, str]] = []
    otel = parse_mesh_telemetry(
        {
            "extensionProviders": [
                {"name": "otel", "opentelemetry": {"service": "otel.istio-system", "port": 9411}}
            ],
            "defaultProviders": {"tracing": ["otel"]},
        },
        errors,
    )
    assert not errors
    before, _ = _traced()
    after = replace(before, mesh=replace(before.mesh, telemetry=otel))
    proxy = sidecar_for(after, "reviews-v2-0", (9080, 40000))
    otel_config = opentelemetry_pb2.OpenTelemetryConfig()
    _tracing(generate(proxy, after)).provider.typed_config.Unpack(otel_config)
    assert otel_config.grpc_service.envoy_grpc.cluster_name == "trace-collector|9411"
    assert otel_config.grpc_service.envoy_grpc.authority == "otel.istio-system.svc.cluster.local"


def test_opentelemetry_samples_by_the_callers_traceparent_then_by_the_rate() -> None:
    """Envoy 1.40's OpenTelemetry tracer follows only the connection manager's random decision
    unless its own sampler decides: a parent-based one around a trace-id ratio at Istio's
    rate, with every request handed to it."""
    errors: list[tuple[str, str]] = []
    otel = parse_mesh_telemetry(
        {
            "extensionProviders": [
                {"name": "otel", "opentelemetry": {"service": "otel.istio-system", "port": 4317}}
            ],
            "defaultProviders": {"tracing": ["otel"]},
            "defaultConfig": {"tracing": {"sampling": 2.5}},
        },
        errors,
    )
    assert not errors
    push, _ = _traced()
    push = replace(push, mesh=replace(push.mesh, telemetry=otel))
    tracing = _tracing(generate(sidecar_for(push, "reviews-v2-0", (9080, 40000)), push))
    assert tracing.random_sampling.value == 100.0
    config = opentelemetry_pb2.OpenTelemetryConfig()
    tracing.provider.typed_config.Unpack(config)
    assert config.sampler.name == "envoy.tracers.opentelemetry.samplers.parent_based"
    parent = parent_based_sampler_pb2.ParentBasedSamplerConfig()
    config.sampler.typed_config.Unpack(parent)
    assert (
        parent.wrapped_sampler.name == "envoy.tracers.opentelemetry.samplers.trace_id_ratio_based"
    )
    ratio = trace_id_ratio_based_sampler_pb2.TraceIdRatioBasedSamplerConfig()
    parent.wrapped_sampler.typed_config.Unpack(ratio)
    assert ratio.sampling_percentage.numerator == 25_000  # per million: 2.5%
    assert ratio.sampling_percentage.denominator == percent_pb2.FractionalPercent.MILLION
