"""Unit tests: the Datadog and SkyWalking tracing providers as istiod configures them
(tracing.go's datadogConfig and skywalkingConfig): only to a service port of the mesh (Istio's
LookupCluster; else no tracing, and `apply` says so), Datadog naming the proxy's service
cluster, SkyWalking over Envoy's gRPC with spans of its own upstream requests and no path tag
length. Their backends cannot run here: Envoy's acceptance of the config is checked end to end
in tests/e2e/test_trace_decorator.py."""

from __future__ import annotations

from typing import Any

from envoy.config.trace.v3 import datadog_pb2, opentelemetry_pb2, skywalking_pb2, zipkin_pb2
from envoy.extensions.tracers.opentelemetry.samplers.v3 import dynatrace_sampler_pb2
from tests.telemetry.test_tracing_defaults import _inbound, _push
from tests.translate.translate_harness import bookinfo_push

from pilotfish.config import load
from pilotfish.config.mesh_telemetry import parse_mesh_telemetry
from pilotfish.telemetry.provider_notes import provider_notes

TELEMETRY = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: %s}]}]
"""


def _mesh(kind: str, service: str, port: int, **more: Any) -> dict[str, Any]:
    body = {"service": service, "port": port, **more}
    return {"extensionProviders": [{"name": kind, kind: body}]}


def test_datadog_to_a_service_of_the_mesh() -> None:
    mesh = _mesh("datadog", "details.default.svc.cluster.local", 9080, maxTagLength=100)
    tracing = _inbound(_push(mesh, TELEMETRY % "datadog"))
    assert tracing.provider.name == "envoy.tracers.datadog"
    config = datadog_pb2.DatadogConfig()
    tracing.provider.typed_config.Unpack(config)
    assert config.collector_cluster == "outbound|9080||details.default.svc.cluster.local"
    assert config.collector_hostname == "details.default.svc.cluster.local"
    assert config.service_name == "reviews.default"
    assert tracing.max_path_tag_length.value == 100
    assert tracing.random_sampling.value == 1.0


def test_skywalking_over_grpc_with_upstream_spans() -> None:
    mesh = _mesh("skywalking", "ratings.default.svc.cluster.local", 9080, maxTagLength=100)
    tracing = _inbound(_push(mesh, TELEMETRY % "skywalking"))
    assert tracing.provider.name == "envoy.tracers.skywalking"
    config = skywalking_pb2.SkyWalkingConfig()
    tracing.provider.typed_config.Unpack(config)
    grpc = config.grpc_service.envoy_grpc
    assert grpc.cluster_name == "outbound|9080||ratings.default.svc.cluster.local"
    assert grpc.authority == "ratings.default.svc.cluster.local"
    assert tracing.spawn_upstream_span.value
    assert not tracing.HasField("max_path_tag_length")  # Istio: 0 for SkyWalking


def test_a_backend_the_mesh_does_not_have_means_no_tracing_and_a_note() -> None:
    mesh = _mesh("datadog", "datadog-agent.istio-system.svc.cluster.local", 8126)
    assert _inbound(_push(mesh, TELEMETRY % "datadog")) is None
    errors: list[tuple[str, str]] = []
    telemetry = parse_mesh_telemetry(mesh, errors)
    notes = provider_notes(load(TELEMETRY % "datadog", "t.yaml").objects, telemetry,
                           bookinfo_push().registry)  # fmt: skip
    assert [n.message for n in notes] == [
        'provider "datadog" sends to datadog-agent.istio-system.svc.cluster.local:8126, which '
        "is not a service port of the mesh: no span is sent for it"
    ]


def test_istios_validation_wants_a_service_and_a_port() -> None:
    for kind in ("datadog", "skywalking"):
        errors: list[tuple[str, str]] = []
        parse_mesh_telemetry(
            {"extensionProviders": [{"name": "x", kind: {"service": "a.b"}}]}, errors
        )
        assert errors == [(f"extensionProviders[0].{kind}.port", "is required: a port from 1 "
                           "to 65535")]  # fmt: skip


def _provider_config(mesh: dict[str, Any], kind: str, message: Any) -> Any:
    mesh = {**mesh, "defaultProviders": {"tracing": [kind]}}
    _inbound(_push(mesh)).provider.typed_config.Unpack(message)
    return message


def test_zipkin_timeout_headers_and_64_bit_trace_ids() -> None:
    """With a timeout or headers, Istio's HttpService form (1.29+), which carries them."""
    mesh = _mesh(
        "zipkin", "zipkin.istio-system.svc.cluster.local", 9411, timeout="2.5s",
        headers=[{"name": "x-tenant", "value": "a"}], enable64bitTraceId=True,
    )  # fmt: skip
    config = _provider_config(mesh, "zipkin", zipkin_pb2.ZipkinConfig())
    assert not config.trace_id_128bit
    uri = config.collector_service.http_uri
    assert uri.uri == "http://zipkin.istio-system.svc.cluster.local/api/v2/spans"
    assert (uri.cluster, uri.timeout.seconds, uri.timeout.nanos) == (
        "trace-collector|9411", 2, 500_000_000,
    )  # fmt: skip
    (header,) = config.collector_service.request_headers_to_add
    assert (header.header.key, header.header.value) == ("x-tenant", "a")
    assert header.append_action == header.OVERWRITE_IF_EXISTS_OR_ADD
    assert not config.collector_cluster  # the HttpService alone says where
    plain = _provider_config(
        _mesh("zipkin", "zipkin.istio-system", 9411), "zipkin", zipkin_pb2.ZipkinConfig()
    )
    assert plain.trace_id_128bit and plain.collector_cluster == "trace-collector|9411"


def test_opentelemetry_timeouts_headers_metadata_and_environment_detector() -> None:
    http = _mesh(
        "opentelemetry", "otel.istio-system", 4318, resourceDetectors={"environment": {}},
        http={"path": "/v1/traces", "timeout": "3s", "headers": [{"name": "k", "value": "v"}]},
    )  # fmt: skip
    config = _provider_config(http, "opentelemetry", opentelemetry_pb2.OpenTelemetryConfig())
    assert config.http_service.http_uri.timeout.seconds == 3
    assert config.http_service.request_headers_to_add[0].header.key == "k"
    (detector,) = config.resource_detectors
    assert detector.name == "envoy.tracers.opentelemetry.resource_detectors.environment"
    grpc = _mesh(
        "opentelemetry", "otel.istio-system", 4317,
        grpc={"timeout": "1s", "initialMetadata": [{"name": "authorization", "value": "t"}]},
    )  # fmt: skip
    config = _provider_config(grpc, "opentelemetry", opentelemetry_pb2.OpenTelemetryConfig())
    assert config.grpc_service.timeout.seconds == 1
    (metadata,) = config.grpc_service.initial_metadata
    assert (metadata.key, metadata.value) == ("authorization", "t")
    assert not config.resource_detectors


def test_bad_provider_timeout_or_headers_name_the_field() -> None:
    errors: list[tuple[str, str]] = []
    parse_mesh_telemetry(
        _mesh("zipkin", "z.istio-system", 9411, timeout="soon", headers=[{"value": "x"}]), errors
    )
    assert [path for path, _ in errors] == [
        "extensionProviders[0].zipkin.timeout", "extensionProviders[0].zipkin.headers",
    ]  # fmt: skip


def test_provider_fields_in_snake_case_as_istios_pages_write_them() -> None:
    """Istio reads MeshConfig with protobuf's JSON parser, which takes both spellings: the
    "Configure trace sampling" page writes `resource_detectors`."""
    otel = _mesh(
        "opentelemetry", "otel.istio-system", 4317, resource_detectors={"environment": {}},
        max_tag_length=99,
    )  # fmt: skip
    config = _provider_config(otel, "opentelemetry", opentelemetry_pb2.OpenTelemetryConfig())
    (detector,) = config.resource_detectors
    assert detector.name == "envoy.tracers.opentelemetry.resource_detectors.environment"
    tracing = _inbound(_push(otel, TELEMETRY % "opentelemetry"))
    assert tracing.max_path_tag_length.value == 99
    zipkin = _mesh("zipkin", "zipkin.istio-system", 9411, enable_64bit_trace_id=True)
    assert not _provider_config(zipkin, "zipkin", zipkin_pb2.ZipkinConfig()).trace_id_128bit


DYNATRACE = {
    "tenant": "abc12345",
    "clusterId": -1743916452,
    "rootSpansPerMinute": 2000,
}


def test_opentelemetry_dynatrace_detector_and_sampler_reusing_the_exporter() -> None:
    """tracing.go's otelConfig: the Dynatrace resource detector after the environment one; the
    Dynatrace sampler without its own httpService reuses the OTLP/HTTP exporter's host, cluster,
    timeout and headers (`api/v2/samplingConfiguration`), and every request reaches it (random
    sampling 100)."""
    mesh = _mesh(
        "opentelemetry", "otel.istio-system", 4318,
        resourceDetectors={"environment": {}, "dynatrace": {}},
        http={"path": "/api/v2/otlp/v1/traces", "timeout": "10s",
              "headers": [{"name": "Authorization", "value": "Api-Token t"}]},
        dynatraceSampler=DYNATRACE,
    )  # fmt: skip
    config = _provider_config(mesh, "opentelemetry", opentelemetry_pb2.OpenTelemetryConfig())
    assert [d.name for d in config.resource_detectors] == [
        "envoy.tracers.opentelemetry.resource_detectors.environment",
        "envoy.tracers.opentelemetry.resource_detectors.dynatrace",
    ]
    assert config.sampler.name == "envoy.tracers.opentelemetry.samplers.dynatrace"
    sampler = dynatrace_sampler_pb2.DynatraceSamplerConfig()
    config.sampler.typed_config.Unpack(sampler)
    assert (sampler.tenant, sampler.cluster_id, sampler.root_spans_per_minute) == (
        "abc12345", -1743916452, 2000,
    )  # fmt: skip
    uri = sampler.http_service.http_uri
    assert uri.uri == "otel.istio-system.svc.cluster.local/api/v2/samplingConfiguration"
    assert uri.cluster == config.http_service.http_uri.cluster and uri.timeout.seconds == 10
    assert sampler.http_service.request_headers_to_add[0].header.value == "Api-Token t"
    tracing = _inbound(_push(mesh, TELEMETRY % "opentelemetry"))
    assert tracing.random_sampling.value == 100.0


def test_a_dynatrace_sampler_with_its_own_service_of_the_mesh() -> None:
    own = {**DYNATRACE, "httpService": {
        "service": "details.default.svc.cluster.local", "port": 9080,
        "http": {"path": "api/v2/samplingConfiguration", "timeout": "2s"}}}  # fmt: skip
    mesh = _mesh("opentelemetry", "otel.istio-system", 4317, dynatraceSampler=own)
    config = _provider_config(mesh, "opentelemetry", opentelemetry_pb2.OpenTelemetryConfig())
    sampler = dynatrace_sampler_pb2.DynatraceSamplerConfig()
    config.sampler.typed_config.Unpack(sampler)
    uri = sampler.http_service.http_uri
    assert uri.cluster == "outbound|9080||details.default.svc.cluster.local"
    assert uri.uri == "details.default.svc.cluster.local/api/v2/samplingConfiguration"
    assert uri.timeout.seconds == 2


def test_a_dynatrace_sampler_istio_cannot_configure_means_no_tracing() -> None:
    """Istio's configureDynatraceSampler errors (no httpService and an exporter over gRPC; a
    service the mesh does not have): the provider is not configured, no tracing; `apply`
    says why."""
    grpc = _mesh("opentelemetry", "otel.istio-system", 4317, dynatraceSampler=DYNATRACE)
    assert _inbound(_push(grpc, TELEMETRY % "opentelemetry")) is None
    away = {**DYNATRACE, "httpService": {"service": "dt.example.com", "port": 443, "http": {}}}
    missing = _mesh("opentelemetry", "otel.istio-system", 4317, dynatraceSampler=away)
    assert _inbound(_push(missing, TELEMETRY % "opentelemetry")) is None
    errors: list[tuple[str, str]] = []
    objects = load(TELEMETRY % "opentelemetry", "t.yaml").objects
    notes = [d.message for d in provider_notes(objects, parse_mesh_telemetry(grpc, errors))]
    assert notes and "dynatraceSampler" in notes[0], notes
