"""Unit tests: an `envoyOtelAls` provider as Istio translates it (`openTelemetryLog` in Istio's
pilot/pkg/model/telemetry_logging.go): Envoy's OpenTelemetry access logger to the provider's
outbound cluster, Istio's default text format as the body and no attributes unless the provider
names `logFormat.labels`, `logName`, the Telemetry filter and mode of the file logs; nothing
(and `apply`'s note) when the mesh has no such service port."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config import load
from pilotfish.config.mesh_telemetry import MeshTelemetry, parse_mesh_telemetry
from pilotfish.model.push_context import PushContext
from pilotfish.telemetry.access_log import ISTIO_TEXT_FORMAT, FileLog, OtelLog, access_log
from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.policy import access_logs
from pilotfish.telemetry.provider_notes import provider_notes

HOST = "opentelemetry-collector.observability.svc.cluster.local"
CLUSTER = f"outbound|4317||{HOST}"
COLLECTOR = """
apiVersion: v1
kind: Service
metadata: {name: opentelemetry-collector, namespace: observability}
spec:
  selector: {app: opentelemetry-collector}
  ports: [{name: grpc-otlp, port: 4317}, {name: http-otlp, port: 4318}]
"""
MESH_WIDE = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: otel}]}]
"""
REVIEWS_ERRORS_ONLY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  accessLogging:
  - providers: [{name: otel}]
    match: {mode: SERVER}
    filter: {expression: "response.code >= 400"}
"""
RATINGS_OFF = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ratings, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  accessLogging: [{providers: [{name: otel}], disabled: true}]
"""


def _mesh(provider: dict[str, Any]) -> MeshTelemetry:
    errors: list[tuple[str, str]] = []
    parsed = parse_mesh_telemetry({"extensionProviders": [{"name": "otel", **provider}]}, errors)
    assert errors == []
    return parsed


def _push(config: str, provider: dict[str, Any], services: str = COLLECTOR) -> PushContext:
    push = bookinfo_push("\n---\n".join(p for p in (services, config) if p.strip()))
    return replace(push, mesh=replace(push.mesh, telemetry=_mesh(provider)))


TASK = {"envoyOtelAls": {"service": HOST, "port": 4317}}


def test_the_tasks_provider_logs_both_sides_to_the_collectors_cluster() -> None:
    push = _push(MESH_WIDE, TASK)
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    for reporter in Reporter:
        (log,) = access_logs(proxy, push, reporter)
        assert log == OtelLog(CLUSTER, HOST, "otel_envoy_accesslog")
    built = access_log(OtelLog(CLUSTER, HOST))
    assert built.name == "envoy.access_loggers.open_telemetry"
    config = logs_service_pb2.OpenTelemetryAccessLogConfig()
    assert built.typed_config.Unpack(config)
    common = config.common_config
    assert (common.log_name, common.grpc_service.envoy_grpc.cluster_name) == (
        "otel_envoy_accesslog",
        CLUSTER,
    )
    assert common.grpc_service.envoy_grpc.authority == HOST
    assert common.transport_api_version == 2  # V3
    assert "upstream_peer" in common.filter_state_objects_to_log
    assert config.disable_builtin_labels  # Istio turns Envoy's resource labels off
    assert config.body.string_value == ISTIO_TEXT_FORMAT
    assert not config.HasField("attributes") and not built.HasField("filter")


def test_log_name_text_and_labels_of_the_provider() -> None:
    """The loki variant's labels (samples/open-telemetry/loki/iop.yaml) become attributes,
    sorted by key, as Istio sorts them."""
    labels = {"pod": "%ENVIRONMENT(POD_NAME)%", "namespace": "%ENVIRONMENT(POD_NAMESPACE)%"}
    provider = {
        "envoyOtelAls": {
            "service": f"observability/{HOST}",
            "port": 4317,
            "logName": "mine",
            "logFormat": {"text": "%REQ(:METHOD)% %RESPONSE_CODE%", "labels": labels},
        }
    }
    push = _push(MESH_WIDE, provider)
    (log,) = access_logs(sidecar_for(push, "ratings-v1-0", (9080, 40000)), push, Reporter.SOURCE)
    config = logs_service_pb2.OpenTelemetryAccessLogConfig()
    access_log(log).typed_config.Unpack(config)
    assert config.common_config.log_name == "mine"
    assert config.body.string_value == "%REQ(:METHOD)% %RESPONSE_CODE%"
    attributes = [(kv.key, kv.value.string_value) for kv in config.attributes.values]
    assert attributes == sorted(labels.items())


def test_filter_mode_disabled_and_selector_as_for_file_logs() -> None:
    push = _push("\n---\n".join((MESH_WIDE, REVIEWS_ERRORS_ONLY, RATINGS_OFF)), TASK)
    reviews = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    (server,) = access_logs(reviews, push, Reporter.DESTINATION)
    assert server.filter == "response.code >= 400"
    built = access_log(server)
    assert built.filter.extension_filter.name == "envoy.access_loggers.extension_filters.cel"
    expression = cel_pb2.ExpressionFilter()
    built.filter.extension_filter.typed_config.Unpack(expression)
    assert expression.expression == "response.code >= 400"
    (client,) = access_logs(reviews, push, Reporter.SOURCE)  # the mesh-wide rule: all requests
    assert client.filter == ""
    ratings = sidecar_for(push, "ratings-v1-0", (9080, 40000))
    assert [access_logs(ratings, push, r) for r in Reporter] == [[], []]
    details = sidecar_for(push, "details-v1-0", (9080, 40000))
    assert len(access_logs(details, push, Reporter.SOURCE)) == 1


def test_no_collector_service_no_logger_and_apply_says_so() -> None:
    push = _push(MESH_WIDE, TASK, services="")
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    assert access_logs(proxy, push, Reporter.SOURCE) == []
    wrong_port = _push(MESH_WIDE, {"envoyOtelAls": {"service": HOST, "port": 4000}})
    assert access_logs(proxy, wrong_port, Reporter.SOURCE) == []
    objects = load(MESH_WIDE, "t.yaml").objects
    (note,) = provider_notes(objects, push.mesh.telemetry, push.registry)
    assert note.path == "spec.accessLogging[0].providers[0].name"
    assert note.message == (
        f'provider "otel" sends to {HOST}:4317, which is not a service port of the mesh: '
        "nothing is logged for it"
    )
    served = _push(MESH_WIDE, TASK)
    assert provider_notes(objects, served.mesh.telemetry, served.registry) == []


def test_the_mesh_config_requires_service_and_port() -> None:
    errors: list[tuple[str, str]] = []
    parse_mesh_telemetry({"extensionProviders": [{"name": "a", "envoyOtelAls": {"port": 1}}]},
                         errors)  # fmt: skip
    parse_mesh_telemetry(
        {"extensionProviders": [{"name": "b", "envoyOtelAls": {"service": HOST}}]}, errors
    )
    assert errors == [
        ("extensionProviders[0].envoyOtelAls.service", "is required"),
        ("extensionProviders[0].envoyOtelAls.port", "is required: a port from 1 to 65535"),
    ]


def test_mesh_configs_default_providers_without_any_telemetry() -> None:
    """The page's "Using Mesh Config": `defaultProviders.accessLogging: [envoy, otel]` logs to
    both with no Telemetry at all, sorted by provider name as Istio sorts them."""
    push = _push("", TASK)
    mesh = replace(push.mesh.telemetry, default_access_log_providers=("otel", "envoy"))
    push = replace(push, mesh=replace(push.mesh, telemetry=mesh))
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    for reporter in Reporter:
        file_log, otel = access_logs(proxy, push, reporter)
        assert isinstance(file_log, FileLog) and file_log.path == "/dev/stdout"
        assert otel == OtelLog(CLUSTER, HOST)


def test_the_most_specific_telemetry_naming_providers_replaces_them() -> None:
    """Istio's `mergeLogs`: a workload's Telemetry naming `envoy` for its server side replaces
    the mesh-wide `otel` there (not adds to it); its client side keeps `otel`. A workload's
    `disabled` turns logging off, without falling back to `accessLogFile`."""
    envoy_server = REVIEWS_ERRORS_ONLY.replace("{name: otel}", "{name: envoy}")
    push = _push("\n---\n".join((MESH_WIDE, envoy_server, RATINGS_OFF)), TASK)
    push = replace(
        push,
        mesh=replace(
            push.mesh, telemetry=replace(push.mesh.telemetry, access_log_file="/dev/stdout")
        ),
    )
    reviews = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    (server,) = access_logs(reviews, push, Reporter.DESTINATION)
    assert isinstance(server, FileLog) and server.filter == "response.code >= 400"
    assert access_logs(reviews, push, Reporter.SOURCE) == [OtelLog(CLUSTER, HOST)]
    ratings = sidecar_for(push, "ratings-v1-0", (9080, 40000))
    assert [access_logs(ratings, push, r) for r in Reporter] == [[], []]


def test_an_entry_naming_no_provider_takes_the_defaults_or_is_ignored() -> None:
    """With `defaultProviders.accessLogging`, an entry naming no provider turns those on (its
    filter is not theirs: Istio's `mergeLogs` keeps filters of named providers only); without,
    Istio ignores it (IST0157) and the mesh's `accessLogFile` is all there is."""
    no_provider = MESH_WIDE.replace("providers: [{name: otel}]", 'filter: {expression: "x"}')
    push = _push(no_provider, TASK)
    file_only = replace(push.mesh.telemetry, access_log_file="/dev/stdout")
    push = replace(push, mesh=replace(push.mesh, telemetry=file_only))
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    assert access_logs(proxy, push, Reporter.SOURCE) == [FileLog("/dev/stdout")]
    defaults = replace(file_only, default_access_log_providers=("otel",))
    push = replace(push, mesh=replace(push.mesh, telemetry=defaults))
    assert access_logs(proxy, push, Reporter.SOURCE) == [OtelLog(CLUSTER, HOST)]
