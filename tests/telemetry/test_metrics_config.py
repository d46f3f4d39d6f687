"""Unit tests: Istio's metric labels, the peer header, the Telemetry API's metrics section, and
the mesh config's telemetry fields, as translation writes them for Envoy."""

from __future__ import annotations

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.data.accesslog.v3.accesslog_pb2 import TcpConnectionEnd, TcpPeriodic
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.mesh_telemetry import legacy_tracing_address, parse_mesh_telemetry
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.telemetry.exchange import IDENTITY_FILTER, PEER_HEADER, Identity, identity_of
from pilotfish.telemetry.labels import (
    ENDPOINT_METADATA,
    FIXED_TAG,
    HTTP_LABELS,
    MESSAGES_TAG,
    PEER_TAGS,
    TCP_LABELS,
    Reporter,
    fixed_labels,
    label_plan,
    split_packs,
)
from pilotfish.telemetry.metrics import (
    _ISTIO_SCOPE,
    CONNECTION_TAG,
    MetricsPolicy,
    tcp_stats_logs,
)
from pilotfish.telemetry.policy import metrics_policy
from pilotfish.telemetry.stats_gauges import gauges_of
from pilotfish.translate import generate
from pilotfish.translate.generate import generate_parts
from pilotfish.type_urls import ENDPOINT as ENDPOINT_TYPE
from pilotfish.type_urls import LISTENER as LISTENER_TYPE
from pilotfish.type_urls import ROUTE as ROUTE_TYPE


def _stats_configs(listener: listener_pb2.Listener) -> list[stats_pb2.Config]:
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    found = []
    for log in manager.access_log:
        if log.name == "envoy.access_loggers.stats":
            config = stats_pb2.Config()
            log.typed_config.Unpack(config)
            found.append(config)
    return found


def _inbound(config_yaml: str = "") -> tuple[stats_pb2.Config, hcm_pb2.HttpConnectionManager]:
    """The inbound listener's logger for plain HTTP requests (the other one is for gRPC)."""
    push = bookinfo_push(config_yaml)
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    resources = generate(proxy, push)
    listener = resources[LISTENER_TYPE][f"inbound_{proxy.ip}_9080"]
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    http, grpc = _stats_configs(listener)
    assert [log.filter.header_filter.header.invert_match for log in manager.access_log[:2]] == [
        True, False,
    ]  # fmt: skip
    assert _fixed(http.histograms[0].stat).get("request_protocol", "http") == "http"
    assert _fixed(grpc.histograms[0].stat).get("request_protocol", "grpc") == "grpc"
    messages = {c.stat.name: c for c in grpc.counters if c.stat.name.endswith("messages_total")}
    # gRPC calls only, from the grpc_stats filter's filter state
    assert sorted(messages) == ["request_messages_total", "response_messages_total"]
    # after authorization, before fault, CORS and the router (Istio's buildHTTPConnectionManager)
    assert manager.http_filters[-4].name == "envoy.filters.http.grpc_stats"
    for counter in messages.values():
        tags = {t.name: t.value_format for t in counter.stat.tags}
        assert tags[MESSAGES_TAG] == "%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)%"
    assert not [c for c in http.counters if c.stat.name.endswith("messages_total")]
    return http, manager


def _fixed(stat: stats_pb2.Config.Stat) -> dict[str, str]:
    (packed,) = [t.value_format for t in stat.tags if t.name == FIXED_TAG]
    return fixed_labels(packed)


def test_canonical_names_follow_istios_label_precedence() -> None:
    def proxy(**labels: str) -> Proxy:
        return Proxy(ProxyType.SIDECAR, "127.1.1.1", "w-0", "ns", tuple(labels.items()), "w")

    assert identity_of(proxy(app="a", version="v1")).canonical_service == "a"
    plain = identity_of(proxy())
    assert (plain.canonical_service, plain.canonical_revision) == ("w", "latest")
    canonical = {
        "service.istio.io/canonical-name": "c",
        "app.kubernetes.io/name": "k",
        "service.istio.io/canonical-revision": "r",
        "app": "a",
    }
    mine = identity_of(proxy(**canonical))
    assert (mine.canonical_service, mine.canonical_revision) == ("c", "r")
    # `;` separates the header's fields: a label value cannot smuggle in another field
    assert (
        identity_of(proxy(app="a;b", version="")).header_value()
        == "w;ns;a_b;latest;a_b;unknown;Kubernetes"
    )


def test_inbound_listener_reports_as_destination_with_every_istio_label() -> None:
    config, manager = _inbound()
    assert manager.http_filters[0].name == "envoy.filters.http.header_to_metadata"
    names = [c.stat.name for c in config.counters] + [h.stat.name for h in config.histograms]
    # requests_total: 15090 prints the duration histogram's `_count` under its name
    assert names == ["request_duration_milliseconds_with_total", "request_bytes",
                     "response_bytes"]  # fmt: skip
    tags = {t.name: t.value_format for t in config.histograms[0].stat.tags}
    assert list(tags) == [FIXED_TAG]  # one tag per metric: the stats logger's cost is per tag
    fixed = _fixed(config.histograms[0].stat)
    assert fixed["reporter"] == "destination"
    assert fixed["destination_workload"] == "reviews-v2"
    assert fixed["destination_service"] == "reviews.default.svc.cluster.local"
    packs, _ = split_packs(tags[FIXED_TAG])
    assert packs == {PEER_TAGS["source"]: "%DYNAMIC_METADATA(pilotfish.peer:identity)%"}
    assert config.histograms[0].unit == stats_pb2.Config.Histogram.Milliseconds
    # Istio's stats scope, as `stats_scope` (not the deprecated `stat_prefix`)
    assert not config.stat_prefix and _ISTIO_SCOPE in config.SerializeToString()


@pytest.mark.parametrize("mtls", [True, False, None])
@pytest.mark.parametrize("protocol", ["http", "grpc", "tcp"])
@pytest.mark.parametrize("reporter", list(Reporter))
def test_every_istio_label_has_one_source_and_no_cel_runs_per_request(
    reporter: Reporter, protocol: str, mtls: bool | None
) -> None:
    me = Identity("w", "ns", "w", "v1", "w", "v1")
    plan = label_plan(reporter, me, None, protocol=protocol, mtls=mtls)
    packed = [label for _, labels in plan.packs.values() for label in labels]
    sources = [*plan.fixed, *packed, *plan.dynamic]
    assert sorted(sources) == sorted(TCP_LABELS if protocol == "tcp" else HTTP_LABELS)
    cel = [k for k, v in plan.dynamic.items() if "%CEL(" in v]
    # only an inbound chain whose transport is not known asks CEL (for the security policy)
    assert cel == (
        ["connection_security_policy"] if reporter is Reporter.DESTINATION and mtls is None else []
    )
    tags = plan.tags(frozenset({"source_app", "destination_version"}), {"team": "%CEL('a')%"})
    assert "team" in tags and "destination_version" not in tags
    assert "source_app" not in _fixed(stats_pb2.Config.Stat(tags=[
        stats_pb2.Config.Tag(name=k, value_format=v) for k, v in tags.items()
    ]))  # fmt: skip
    # the fixed tag names its labels by one-letter codes, and says which packed ones go
    decoded = fixed_labels(tags[FIXED_TAG])
    removed = ("source_app", "destination_version")
    kept = {k for k in [*plan.fixed, *plan.dynamic] if k not in removed}
    dropped = {f"!{k}" for k in packed if k in removed}
    assert set(decoded) == kept | dropped
    assert all(decoded[k] == v for k, v in plan.fixed.items() if k in kept)
    assert "reporter" not in tags[FIXED_TAG] and len(split_packs(tags[FIXED_TAG])[1]) < 330
    # every pack rides in the fixed tag, before the labels, and comes back out whole
    assert split_packs(tags[FIXED_TAG])[0] == {tag: fmt for tag, (fmt, _) in plan.packs.items()}
    assert list(tags) == [FIXED_TAG, "team"]


def _identity_sent(listener: listener_pb2.Listener) -> str:
    """The peer header value a listener's identity filter sends on requests."""
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    (found,) = [f for f in manager.http_filters if f.name == IDENTITY_FILTER]
    config = header_mutation_pb2.HeaderMutation()
    found.typed_config.Unpack(config)
    (mutation,) = config.mutations.request_mutations
    assert mutation.append.header.key == PEER_HEADER
    assert mutation.append.append_action == base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    return str(mutation.append.header.value)


def _identity_off(route: route_components_pb2.Route) -> bool:
    """The identity filter off on the route, and the header removed by the route (what holds
    when the request's filters were chosen before its route was known)."""
    config = route.typed_per_filter_config.get(IDENTITY_FILTER)
    removed = PEER_HEADER in route.request_headers_to_remove
    if config is None:
        return removed
    off = route_components_pb2.FilterConfig()
    config.Unpack(off)
    assert bool(off.disabled) == removed
    return removed


def test_outbound_listeners_send_the_identity_and_clients_read_the_servers_endpoint() -> None:
    push = bookinfo_push()
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    resources = generate(proxy, push)
    routes = resources[ROUTE_TYPE]
    # responses carry no identity: the client reads the server's from its endpoint's metadata
    inbound = routes["inbound|9080||"]
    assert PEER_HEADER not in [h.header.key for h in inbound.response_headers_to_add]
    ratings = resources[ENDPOINT_TYPE]["outbound|9080||ratings.default.svc.cluster.local"]
    (endpoint,) = ratings.endpoints[0].lb_endpoints
    peer = endpoint.metadata.filter_metadata[ENDPOINT_METADATA]["peer"]
    assert peer == "ratings-v1;default;ratings;v1;ratings;v1;Kubernetes"
    client = hcm_pb2.HttpConnectionManager()
    outbound = resources[LISTENER_TYPE]["outbound_http_proxy"]
    outbound.filter_chains[0].filters[0].typed_config.Unpack(client)
    assert "envoy.filters.http.header_to_metadata" not in [f.name for f in client.http_filters]
    # requests: the proxy's own outbound listener says who it is, overwriting the app's header
    listener = resources[LISTENER_TYPE]["outbound_http_proxy"]
    assert _identity_sent(listener) == identity_of(proxy).header_value()
    outbound = routes["http_proxy"]
    to_ratings = next(v for v in outbound.virtual_hosts if v.name.startswith("ratings."))
    assert not _identity_off(to_ratings.routes[0])
    assert PEER_HEADER not in [h.header.key for h in to_ratings.routes[0].request_headers_to_add]
    assert outbound.virtual_hosts[-1].name in ("allow_any", "block_all")
    routed = [r for r in outbound.virtual_hosts[-1].routes if r.HasField("route")]
    assert routed and all(_identity_off(r) for r in routed)  # never to hosts outside the mesh


def test_outbound_route_configuration_holds_nothing_of_the_proxy() -> None:
    """Two workloads of one namespace (different identities, labels, addresses) get the very same
    `http_proxy` route configuration object from one push context (built once), while each one's
    listener sends its own identity."""
    push = bookinfo_push()
    reviews = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    productpage = sidecar_for(push, "productpage-v1-0", (9080, 40001))
    shared_r, own_r = generate_parts(reviews, push)
    shared_p, own_p = generate_parts(productpage, push)
    route_r = [part for part in shared_r if part.routes]
    route_p = [part for part in shared_p if part.routes]
    assert len(route_r) == 1 and route_r[0] is route_p[0]
    assert "http_proxy" not in own_r.routes and "http_proxy" not in own_p.routes
    sent = {_identity_sent(own[LISTENER_TYPE]["outbound_http_proxy"]) for own in (own_r, own_p)}
    assert sent == {identity_of(reviews).header_value(), identity_of(productpage).header_value()}
    # and it is what the proxy gets merged
    assert generate(reviews, push).routes["http_proxy"] is route_r[0].routes["http_proxy"]


def test_telemetry_disables_a_metric_per_mode_and_overrides_tags() -> None:
    config, _ = _inbound("""
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_SIZE, mode: SERVER}
      disabled: true
    - match: {metric: ALL_METRICS}
      tagOverrides:
        request_protocol: {operation: REMOVE}
        user_agent: {value: "request.headers['user-agent']"}
""")
    names = [h.stat.name for h in config.histograms]
    assert "request_bytes" not in names and "response_bytes" in names
    tags = {t.name: t.value_format for t in config.histograms[0].stat.tags}
    assert "request_protocol" not in _fixed(config.histograms[0].stat)
    assert tags["user_agent"] == "%CEL(request.headers['user-agent'])%"
    assert [c.stat.name for c in config.counters] == []  # same tags: counted by the duration


def test_requests_total_is_its_own_counter_when_an_override_sets_it_apart() -> None:
    one_side = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: %s, mode: SERVER}
      %s
"""
    for metric, override in (
        ("REQUEST_COUNT", "tagOverrides: {team: {value: \"'blue'\"}}"),
        ("REQUEST_DURATION", "disabled: true"),
        ("REQUEST_DURATION", "tagOverrides: {request_protocol: {operation: REMOVE}}"),
    ):
        config, _ = _inbound(one_side % (metric, override))
        assert [c.stat.name for c in config.counters] == ["requests_total"], (metric, override)
        assert "request_duration_milliseconds_with_total" not in [
            h.stat.name for h in config.histograms
        ]


def test_no_prometheus_provider_means_no_metrics() -> None:
    push = bookinfo_push("""
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: off, namespace: default}
spec:
  metrics: [{providers: [{name: some-otel}]}]
""")
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    listener = generate(proxy, push)[LISTENER_TYPE][f"inbound_{proxy.ip}_9080"]
    assert _stats_configs(listener) == []


def test_tcp_labels_have_no_response_code() -> None:
    assert "response_code" not in TCP_LABELS and "grpc_response_status" not in TCP_LABELS
    assert len(HTTP_LABELS) == 25 and len(TCP_LABELS) == 23


def test_mesh_config_telemetry_fields_and_errors() -> None:
    errors: list[tuple[str, str]] = []
    mesh = parse_mesh_telemetry(
        {
            "accessLogFile": "/dev/stdout",
            "accessLogEncoding": "JSON",
            "defaultConfig": {"tracing": {"sampling": 50, "zipkin": {"address": "zk:9411"}}},
            "extensionProviders": [
                {"name": "otel", "opentelemetry": {"service": "otel.obs", "port": 4317}},
                {"name": "bad"},
            ],
        },
        errors,
    )
    assert (mesh.access_log_file, mesh.access_log_encoding, mesh.sampling) == (
        "/dev/stdout", "JSON", 50.0,
    )  # fmt: skip
    assert mesh.provider_kind("otel") == "opentelemetry"
    legacy = mesh.provider("zipkin")
    assert legacy is not None and (legacy.service, legacy.port) == ("zk", 9411)
    assert errors == [
        ("extensionProviders[1]", "needs exactly one provider type (zipkin, opentelemetry, …)")
    ]
    bad: list[tuple[str, str]] = []
    parse_mesh_telemetry({"accessLogEncoding": "XML"}, bad)
    assert bad[0][0] == "accessLogEncoding"


def test_legacy_istio_tracing_configmap() -> None:
    errors: list[tuple[str, str]] = []
    text = "enabled: true\nendpoint: http://zipkin.istio-system:9411/api/v2/spans\n"
    assert legacy_tracing_address({"zipkin": text}, errors) == (
        "http://zipkin.istio-system:9411/api/v2/spans"
    )
    assert legacy_tracing_address({"zipkin": "enabled: false\n"}, errors) == ""
    assert legacy_tracing_address({"zipkin": "enabled: true\n"}, errors) == ""
    assert errors == [("data.zipkin.endpoint", "is required when zipkin is enabled")]


def test_open_tcp_connections_bytes_are_gauges_set_each_report_and_zeroed_at_close() -> None:
    me = Identity("w", "ns", "w", "v1", "w", "v1")
    _, periodic, closed = tcp_stats_logs(Reporter.SOURCE, me, MetricsPolicy())
    assert list(periodic.filter.log_type_filter.types) == [TcpPeriodic, TcpConnectionEnd]
    assert list(closed.filter.log_type_filter.types) == [TcpConnectionEnd]  # after the zeroing
    config = stats_pb2.Config()
    periodic.typed_config.Unpack(config)
    gauges = gauges_of(config)
    assert [(g.stat.name, g.set.log_type, g.value_format) for g in gauges] == [
        ("tcp_sent_bytes_total_open", TcpPeriodic, "%BYTES_SENT%"),
        ("tcp_sent_bytes_total_open", TcpConnectionEnd, "%CEL(0)%"),
        ("tcp_received_bytes_total_open", TcpPeriodic, "%BYTES_RECEIVED%"),
        ("tcp_received_bytes_total_open", TcpConnectionEnd, "%CEL(0)%"),
    ]
    tags = {t.name: t.value_format for t in gauges[0].stat.tags}
    assert tags[CONNECTION_TAG] == "%CONNECTION_ID%"  # one gauge per connection
    # an open connection's flags: the zero at close lands on the series its bytes are in
    assert _fixed(gauges[0].stat)["response_flags"] == "-"
    assert _ISTIO_SCOPE in config.SerializeToString()
    counted = stats_pb2.Config()
    closed.typed_config.Unpack(counted)
    assert _fixed(counted.counters[0].stat)["response_flags"] == "%RESPONSE_FLAGS%"
    # at close, the bytes before the connection count: Envoy's page reads counters in name order
    # (closed first), so a read while the logger runs never shows the connection without them
    assert [c.stat.name for c in counted.counters] == [
        "tcp_sent_bytes_total", "tcp_received_bytes_total", "tcp_connections_closed_total",
    ]  # fmt: skip
    disabled = MetricsPolicy(
        disabled=frozenset(
            {("TCP_SENT_BYTES", Reporter.SOURCE), ("TCP_RECEIVED_BYTES", Reporter.SOURCE)}
        )
    )
    assert len(tcp_stats_logs(Reporter.SOURCE, me, disabled)) == 2  # no gauges, no periodic log


def test_reporting_interval_from_the_most_specific_telemetry() -> None:
    push = bookinfo_push("""
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics: [{reportingInterval: 10s}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics: [{reportingInterval: 1500ms}]
""")
    reviews = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    ratings = sidecar_for(push, "ratings-v1-0", (9080, 40000))
    assert metrics_policy(reviews, push).reporting_interval == 1.5
    assert metrics_policy(ratings, push).reporting_interval == 10
    default = bookinfo_push("")
    assert metrics_policy(sidecar_for(default, "ratings-v1-0", (9080, 40000)), default) == (
        MetricsPolicy(reporting_interval=5)
    )
