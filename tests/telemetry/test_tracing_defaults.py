"""Unit tests: tracing as istiod configures it from the mesh config and the ProxyConfig
(`telemetry.tracing_policy`, `config.proxy_tracing`), checked against Istio's tracing.go and
telemetry.go: Istio's default install (no provider, no Telemetry) still gives every HTTP
connection manager a `tracing` block without a provider (1% sampling, Istio's tags),
`enableTracing` gates only that fallback, the ProxyConfig's sampling / custom tags /
`max_path_tag_length` (the mesh's `defaultConfig.tracing`, or the pod's own whole), and
Telemetry's `customTags` replacing them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from envoy.config.trace.v3 import datadog_pb2, zipkin_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.request_id.uuid.v3 import uuid_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.mesh_telemetry import parse_mesh_telemetry
from pilotfish.config.proxy_tracing import ProxyTracing, parse_proxy_tracing, tracing_json
from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.telemetry.tracing import NO_CONTEXT_PROPAGATION
from pilotfish.translate import generate
from pilotfish.type_urls import LISTENER

ZIPKIN = {"name": "zipkin", "zipkin": {"service": "zipkin.istio-system.svc.cluster.local"}}
TELEMETRY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [%s]
"""


def _push(mesh: dict[str, Any], config_yaml: str = "") -> PushContext:
    errors: list[tuple[str, str]] = []
    telemetry = parse_mesh_telemetry(mesh, errors)
    assert not errors
    push = bookinfo_push(config_yaml)
    mesh_config = replace(push.mesh, telemetry=telemetry, trace_collector_address="127.9.0.1")
    return replace(push, mesh=mesh_config)


def _proxy(push: PushContext) -> Proxy:
    return sidecar_for(push, "reviews-v2-0", (9080, 40000))


def _tracings(push: PushContext, proxy: Proxy | None = None) -> dict[str, Any]:
    """Each listener's first HTTP connection manager's tracing (None: none), by listener."""
    found: dict[str, Any] = {}
    for name, listener in generate(proxy or _proxy(push), push)[LISTENER].items():
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name.endswith("http_connection_manager"):
                    manager = hcm_pb2.HttpConnectionManager()
                    network_filter.typed_config.Unpack(manager)
                    tracing = manager.tracing if manager.HasField("tracing") else None
                    found.setdefault(name, tracing)
    assert found, "no HTTP connection manager"
    return found


def _inbound(push: PushContext, proxy: Proxy | None = None) -> Any:
    return next(t for n, t in _tracings(push, proxy).items() if n.startswith("inbound_"))


def _tags(tracing: Any) -> dict[str, str]:
    def value(tag: Any) -> str:
        kind = tag.WhichOneof("type")
        if kind == "literal":
            return f"literal:{tag.literal.value}"
        if kind == "environment":
            return f"environment:{tag.environment.name}|{tag.environment.default_value}"
        if kind == "request_header":
            return f"request_header:{tag.request_header.name}|{tag.request_header.default_value}"
        if kind == "metadata":
            return f"metadata:{tag.metadata.metadata_key.key}"
        return f"{kind}:{tag.value}"

    return {tag.tag: value(tag) for tag in tracing.custom_tags}


def test_istios_default_install_traces_with_no_provider_at_1_percent() -> None:
    """DefaultMeshConfig: enableTracing true, no tracing provider: every connection manager,
    inbound and outbound, gets Istio's fallback tracing (what makes Envoy set
    x-envoy-decorator-operation); no collector cluster is made."""
    push = _push({})
    tracings = _tracings(push)
    assert all(t is not None for t in tracings.values()), tracings.keys()
    inbound = _inbound(push)
    assert not inbound.HasField("provider")
    assert (inbound.random_sampling.value, inbound.client_sampling.value) == (1.0, 100.0)
    assert inbound.overall_sampling.value == 100.0
    assert not inbound.HasField("max_path_tag_length")
    tags = _tags(inbound)
    assert tags["istio.canonical_service"] == "literal:reviews"
    assert tags["istio.authorization.dry_run.allow_policy.name"].startswith("metadata:")
    assert not inbound.HasField("spawn_upstream_span")


def test_enable_tracing_false_means_no_tracing_block() -> None:
    assert set(_tracings(_push({"enableTracing": False})).values()) == {None}


def test_the_proxy_configs_sampling_tags_and_path_length() -> None:
    """The page's MeshConfig: sampling, max_path_tag_length, the three kinds of custom tag
    (snake_case as the page writes them)."""
    tracing = {
        "sampling": 10,
        "max_path_tag_length": 99,
        "custom_tags": {
            "my_tag_header": {"header": {"name": "host"}},
            "clusterID": {"environment": {"name": "ISTIO_META_CLUSTER_ID", "defaultValue": "x"}},
            "my_tag_literal": {"literal": {"value": "v"}},
        },
    }
    inbound = _inbound(_push({"defaultConfig": {"tracing": tracing}}))
    assert inbound.random_sampling.value == 10.0
    assert inbound.max_path_tag_length.value == 99
    tags = _tags(inbound)
    assert tags["my_tag_header"] == "request_header:host|"
    assert tags["clusterID"] == "environment:ISTIO_META_CLUSTER_ID|x"
    assert tags["my_tag_literal"] == "literal:v"
    assert "istio.namespace" in tags


@pytest.mark.parametrize(("sampling", "used"), [(0, 1.0), (0.05, 0.05), (100, 100.0), (250, 1.0)])
def test_sampling_as_istios_proxy_config_sampling_value(sampling: float, used: float) -> None:
    """0 is unset (istiod's 1%), above 100 Istio uses 1%: neither is an error."""
    inbound = _inbound(_push({"defaultConfig": {"tracing": {"sampling": sampling}}}))
    assert inbound.random_sampling.value == used


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"sampling": -1}, "tracing.sampling"),
        ({"sampling": "ten"}, "tracing.sampling"),
        ({"max_path_tag_length": -3}, "tracing.max_path_tag_length"),
        ({"custom_tags": {"t": None}}, "tracing.custom_tags.t"),
        ({"custom_tags": {"t": {"literal": {"value": "a"}, "header": {"name": "b"}}}}, "t"),
        ({"custom_tags": {"t": {"header": {"nme": "b"}}}}, "tracing.custom_tags.t.header"),
        ({"zipkin": {"address": "zipkin.istio-system"}}, "tracing.zipkin.address"),
    ],
)
def test_bad_proxy_config_tracing_names_the_field(raw: dict[str, Any], path: str) -> None:
    errors: list[tuple[str, str]] = []
    parse_proxy_tracing(raw, "tracing", errors)
    assert errors and path in errors[0][0], errors


def test_enable_tracing_false_does_not_stop_the_telemetry_api() -> None:
    """Istio reads enableTracing only when no Telemetry and no default provider apply."""
    push = _push(
        {"enableTracing": False, "extensionProviders": [ZIPKIN]},
        TELEMETRY % "{providers: [{name: zipkin}]}",
    )
    zipkin = zipkin_pb2.ZipkinConfig()
    _inbound(push).provider.typed_config.Unpack(zipkin)
    assert zipkin.collector_hostname == "zipkin.istio-system.svc.cluster.local"


def test_a_telemetry_naming_no_provider_turns_the_fallback_off() -> None:
    """A Telemetry `tracing` with no provider anywhere: Istio disables the spec."""
    push = _push({}, TELEMETRY % "{randomSamplingPercentage: 50}")
    assert set(_tracings(push).values()) == {None}


def test_telemetry_custom_tags_replace_the_proxy_configs() -> None:
    mesh = {
        "extensionProviders": [ZIPKIN],
        "defaultProviders": {"tracing": ["zipkin"]},
        "defaultConfig": {
            "tracing": {
                "sampling": 7,
                "max_path_tag_length": 300,
                "custom_tags": {"mesh": {"literal": {"value": "m"}}},
            }
        },
    }
    kept = _inbound(_push(mesh))
    assert (kept.random_sampling.value, kept.max_path_tag_length.value) == (7.0, 300)
    assert _tags(kept)["mesh"] == "literal:m"
    entry = "{customTags: {team: {literal: {value: t}}}, enableIstioTags: false}"
    replaced = _tags(_inbound(_push(mesh, TELEMETRY % entry)))
    assert replaced == {"team": "literal:t"}


def test_the_providers_max_tag_length_wins_over_the_proxy_configs() -> None:
    provider = {**ZIPKIN, "zipkin": {**ZIPKIN["zipkin"], "maxTagLength": 64}}  # type: ignore[dict-item]
    mesh = {
        "extensionProviders": [provider],
        "defaultProviders": {"tracing": ["zipkin"]},
        "defaultConfig": {"tracing": {"max_path_tag_length": 300}},
    }
    assert _inbound(_push(mesh)).max_path_tag_length.value == 64


def test_a_pods_own_tracing_replaces_the_meshs_whole() -> None:
    """proxy.istio.io/config `tracing` (the page's sleep annotation): its sampling and tags;
    the mesh's tags are gone, as the page warns."""
    push = _push({"defaultConfig": {"tracing": {"sampling": 50, "custom_tags": {
        "mesh": {"literal": {"value": "m"}}}}}})  # fmt: skip
    errors: list[tuple[str, str]] = []
    own = parse_proxy_tracing(
        {"sampling": 10, "custom_tags": {"my_tag_header": {"header": {"name": "host"}}}},
        "tracing",
        errors,
    )
    assert not errors and own is not None
    proxy = replace(_proxy(push), tracing=own)
    inbound = _inbound(push, proxy)
    assert inbound.random_sampling.value == 10.0
    tags = _tags(inbound)
    assert "mesh" not in tags and tags["my_tag_header"] == "request_header:host|"


def test_a_pods_tracing_goes_through_the_node_metadata() -> None:
    own = ProxyTracing(
        sampling=10.0,
        max_path_tag_length=128,
        custom_tags=(("h", "header", "host", "none"), ("l", "literal", "v", "")),
        enable_istio_tags=False,
        zipkin_address="zipkin.istio-system:9411",
    )
    proxy = replace(_proxy(bookinfo_push()), tracing=own)
    metadata = node_metadata(proxy)
    assert metadata["PROXY_CONFIG"]["tracing"] == tracing_json(own)
    # a protobuf Struct's numbers are floats
    metadata["PROXY_CONFIG"]["tracing"]["maxPathTagLength"] = 128.0
    assert proxy_from_node(proxy.id, metadata).tracing == own


def _manager(push: PushContext) -> hcm_pb2.HttpConnectionManager:
    listener = next(
        v for k, v in generate(_proxy(push), push)[LISTENER].items() if k.startswith("inbound_")
    )
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager


def test_use_request_id_for_trace_sampling_false() -> None:
    """Istio's UUIDRequestIDExtension with the Telemetry's false; Envoy's default (sampling by
    the request id, what Istio writes out as true) otherwise."""
    mesh = {"extensionProviders": [ZIPKIN], "defaultProviders": {"tracing": ["zipkin"]}}
    assert not _manager(_push(mesh)).HasField("request_id_extension")
    entry = "{useRequestIdForTraceSampling: false}"
    manager = _manager(_push(mesh, TELEMETRY % entry))
    uuid = uuid_pb2.UuidRequestIdConfig()
    manager.request_id_extension.typed_config.Unpack(uuid)
    assert uuid.HasField("use_request_id_for_trace_sampling")
    assert not uuid.use_request_id_for_trace_sampling.value
    push = _push(mesh, TELEMETRY % entry)
    listener = next(v for k, v in generate(_proxy(push), push)[LISTENER].items() if "inbound" in k)
    data = listener.filter_chains[0].filters[0].typed_config.value
    assert data == manager.SerializeToString(deterministic=True)  # in field order


LEGACY = {"defaultConfig": {"tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}}}


def _legacy_hostname(tracing: Any) -> str:
    zipkin = zipkin_pb2.ZipkinConfig()
    tracing.provider.typed_config.Unpack(zipkin)
    return str(zipkin.collector_hostname or zipkin.collector_service.http_uri.uri)


def test_the_legacy_zipkin_address_traces_only_without_a_telemetry() -> None:
    """Istio: the address is the bootstrap's tracer, which only the fallback block (no
    Telemetry, no default provider) uses."""
    inbound = _inbound(_push(LEGACY))
    assert _legacy_hostname(inbound) == "zipkin.istio-system.svc.cluster.local"
    assert set(_tracings(_push({**LEGACY, "enableTracing": False})).values()) == {None}


@pytest.mark.parametrize(
    "entry",
    [
        "{randomSamplingPercentage: 100}",  # selects no provider
        "{providers: [{name: zipkin}]}",  # the legacy address is no extensionProviders entry
    ],
)
def test_a_telemetry_with_no_extension_provider_stops_the_legacy_address(entry: str) -> None:
    """Telemetries.Tracing: a spec whose provider is not found is disabled, so
    configureTracingFromTelemetry writes no tracing block and the bootstrap's tracer (the
    legacy address) is never used."""
    assert set(_tracings(_push(LEGACY, TELEMETRY % entry)).values()) == {None}


def test_the_legacy_address_of_a_pods_own_tracing() -> None:
    """A pod's ProxyConfig `tracing` replaces the mesh's whole: its own address, or none."""
    push = _push(LEGACY)
    errors: list[tuple[str, str]] = []
    own = parse_proxy_tracing({"zipkin": {"address": "tracer.obs:9411"}}, "tracing", errors)
    none = parse_proxy_tracing({"sampling": 10}, "tracing", errors)
    assert not errors and own is not None and none is not None
    found = _legacy_hostname(_inbound(push, replace(_proxy(push), tracing=own)))
    assert found == "tracer.obs.svc.cluster.local"
    assert not _inbound(push, replace(_proxy(push), tracing=none)).HasField("provider")


def test_disable_context_propagation() -> None:
    """Istio 1.30+: the connection manager's tracing says no_context_propagation (field 13 of
    HttpConnectionManager.Tracing, which this xds-protos lacks: kept as an unknown field and
    last, in field order); unset or false: nothing."""
    mesh = {"extensionProviders": [ZIPKIN], "defaultProviders": {"tracing": ["zipkin"]}}
    assert NO_CONTEXT_PROPAGATION not in _inbound(_push(mesh)).SerializeToString()
    entry = "{disableContextPropagation: false}"
    assert (
        NO_CONTEXT_PROPAGATION not in _inbound(_push(mesh, TELEMETRY % entry)).SerializeToString()
    )
    off = _push(mesh, TELEMETRY % "{disableContextPropagation: true}")
    for tracing in _tracings(off).values():
        data = tracing.SerializeToString(deterministic=True)
        assert data.endswith(NO_CONTEXT_PROPAGATION) and tracing.HasField("provider")


def test_the_legacy_datadog_address_to_a_service_of_the_mesh() -> None:
    """ProxyConfig `tracing.datadog.address`: Istio's bootstrap Datadog tracer, which the
    fallback block uses; here only to a service port of the mesh (else no tracer)."""
    inbound = _inbound(_push({"defaultConfig": {"tracing": {"datadog": {
        "address": "details.default.svc.cluster.local:9080"}}}}))  # fmt: skip
    datadog = datadog_pb2.DatadogConfig()
    inbound.provider.typed_config.Unpack(datadog)
    assert datadog.collector_cluster == "outbound|9080||details.default.svc.cluster.local"
    assert datadog.service_name == "reviews.default"
    away = _inbound(
        _push({"defaultConfig": {"tracing": {"datadog": {"address": "$(HOST_IP):8126"}}}})
    )
    assert not away.HasField("provider")


@pytest.mark.parametrize(
    ("raw", "path", "said"),
    [
        ({"lightstep": {"address": "ls:8080", "accessToken": "t"}}, "tracing.lightstep", "1.30"),
        ({"zipkin": {"address": "z:9411"}, "datadog": {"address": "d:8126"}}, "tracing.datadog",
         "only one tracer"),
        ({"datadog": {"address": "agent"}}, "tracing.datadog.address", "host:port"),
    ],
)  # fmt: skip
def test_proxy_config_tracers_istio_refuses_or_envoy_cannot_run(
    raw: dict[str, Any], path: str, said: str
) -> None:
    errors: list[tuple[str, str]] = []
    parse_proxy_tracing(raw, "tracing", errors)
    assert [(p, said in m) for p, m in errors] == [(path, True)], errors
