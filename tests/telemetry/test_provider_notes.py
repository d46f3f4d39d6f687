"""`apply`'s warnings for Telemetry providers the mesh cannot serve (`provider_notes`)."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.mesh_telemetry import MeshTelemetry, Provider, parse_mesh_telemetry
from pilotfish.telemetry.provider_notes import provider_notes

MESH = MeshTelemetry(
    providers=(
        Provider("http-als", "envoyHttpAls"),
        Provider("file", "envoyFileAccessLog"),
        Provider("zipkin", "zipkin", service="zipkin.istio-system", port=9411),
        Provider("sky", "lightstep"),
        Provider("sd", "stackdriver"),
    )
)
TELEMETRY = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: ns}
spec:
  accessLogging: [{providers: [{name: envoy}, {name: file}, {name: http-als}]}]
  tracing: [{providers: [{name: zipkin}]}, {providers: [{name: sky}]}]
  metrics: [{providers: [{name: prometheus}, {name: sd}, {name: none}]}]
"""


def test_each_unserved_provider_is_named_with_its_field_and_what_is_lost() -> None:
    objects = load(TELEMETRY, "t.yaml").objects
    said = [(d.path, d.message) for d in provider_notes(objects, MESH)]
    assert said == [
        (
            "spec.accessLogging[0].providers[2].name",
            'provider "http-als" is an extension provider of type envoyHttpAls, which this '
            "version does not implement: nothing is logged for it",
        ),
        (
            "spec.tracing[1].providers[0].name",
            'provider "sky" is an extension provider of type lightstep, which this version '
            "does not implement: no span is sent for it",
        ),
        (
            "spec.metrics[0].providers[1].name",
            'provider "sd" is an extension provider of type stackdriver, which this version '
            "does not implement: no metric is exported for it",
        ),
        (
            "spec.metrics[0].providers[2].name",
            'provider "none" is defined by no extensionProviders entry of the mesh config: no '
            "metric is exported for it",
        ),
    ]
    assert {d.name for d in provider_notes(objects, MESH)} == {"ns/t"}


def test_an_otlp_tracer_to_a_host_outside_the_mesh_is_no_note() -> None:
    """Over gRPC too (Istio's Jaeger task: `jaeger-collector.istio-system:4317`): the mesh's
    own collector takes it (`tracing.collector_ports`), so nothing is lost."""
    mesh = MeshTelemetry(
        providers=(
            Provider("grpc", "opentelemetry", service="otel.observability.svc.cluster.local"),
            Provider("http", "opentelemetry", service="otel.observability", otel_http=True),
        )
    )
    text = TELEMETRY.split("spec:")[0] + (
        "spec:\n  tracing: [{providers: [{name: grpc}]}, {providers: [{name: http}]}]\n"
    )
    assert provider_notes(load(text, "t.yaml").objects, mesh) == []


CLASSIFY = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-tags
spec:
  metrics:
    - overrides:
        - match:
            metric: REQUEST_COUNT
            mode: CLIENT_AND_SERVER
          tagOverrides:
            request_operation:
              value: filter_state['wasm.istio_operationId']
            response_code:
              value: "response.code >= 500 ? '5xx' : 'other'"
      providers:
        - name: prometheus
"""


def test_a_tag_read_from_a_wasm_plugins_filter_state_is_said_to_stay_empty() -> None:
    """Istio's "Classifying Metrics Based on Request or Response": attributegen (a WasmPlugin,
    not run here) would set `wasm.istio_operationId`; the tag is empty on every request, said
    at the value's own line. A CEL classification gets no note."""
    said = provider_notes(load(CLASSIFY, "attribute_gen_service.yaml").objects, MESH)
    assert [str(d.source) for d in said] == ["attribute_gen_service.yaml:13"]  # the value's line
    assert said[0].path == "spec.metrics[0].overrides[0].tagOverrides.request_operation.value"
    assert said[0].message.startswith(
        "reads filter state 'wasm.istio_operationId', which only a Wasm plugin (WasmPlugin, e.g. "
        "attributegen) sets, and these Envoys run none: tag 'request_operation' is empty"
    ), said[0].message


def test_a_telemetry_naming_the_legacy_zipkin_address_is_told_it_is_no_provider() -> None:
    errors: list[tuple[str, str]] = []
    mesh = parse_mesh_telemetry(
        {"defaultConfig": {"tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}}},
        errors,
    )
    objects = load(TELEMETRY, "t.yaml").objects
    said = [d.message for d in provider_notes(objects, mesh) if "tracing[0]" in d.path]
    assert said == [
        'provider "zipkin" is defined by no extensionProviders entry of the mesh config (the '
        "legacy tracer address is none: only tracing without a Telemetry uses it): no span is "
        "sent for it"
    ]
