"""`translate.hcm_telemetry`: the telemetry spliced into a serialised HTTP connection manager
gives the bytes of the changed manager serialised, as unpacking it, adding the filters and
loggers and packing it again did (the resources' versions are hashes of those bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import duration_pb2
from tests.translate.translate_harness import TESTDATA, load_case

from pilotfish.telemetry.metrics import GRPC_STATS_FILTER as GRPC_STATS
from pilotfish.translate import generate
from pilotfish.translate.envoy_pb import HCM_FILTER, pack
from pilotfish.translate.hcm_telemetry import ACCESS_LOG, HTTP_FILTERS, spliced
from pilotfish.type_urls import LISTENER
from pilotfish.wire import encode_field

CASES = sorted(p for p in TESTDATA.iterdir() if p.is_dir())


def _filter(name: str) -> hcm_pb2.HttpFilter:
    return hcm_pb2.HttpFilter(name=name)


def _log(name: str) -> accesslog_pb2.AccessLog:
    return accesslog_pb2.AccessLog(name=name)


MANAGERS = [
    hcm_pb2.HttpConnectionManager(),  # neither field, nothing around them
    hcm_pb2.HttpConnectionManager(stat_prefix="p", http_filters=[_filter("a"), _filter("b")]),
    hcm_pb2.HttpConnectionManager(  # fields before, between and after both
        stat_prefix="p",
        http_filters=[_filter("a")],
        access_log=[_log("x")],
        stream_idle_timeout=duration_pb2.Duration(seconds=3),
        normalize_path={"value": True},
        use_remote_address={"value": True},
    ),
    hcm_pb2.HttpConnectionManager(  # only fields after both
        stream_idle_timeout=duration_pb2.Duration(seconds=3), merge_slashes=True
    ),
    hcm_pb2.HttpConnectionManager(access_log=[_log("x"), _log("y")], codec_type=1),
]


@pytest.mark.parametrize("manager", MANAGERS)
def test_spliced_is_the_changed_manager_serialised(manager: hcm_pb2.HttpConnectionManager) -> None:
    filters, logs = [_filter("first"), _filter("second")], [_log("l1"), _log("l2")]
    expected = hcm_pb2.HttpConnectionManager()
    expected.CopyFrom(manager)
    del expected.http_filters[:]
    expected.http_filters.extend([*filters, *manager.http_filters])
    expected.access_log.extend(logs)
    got = spliced(
        manager.SerializeToString(),
        [encode_field(HTTP_FILTERS, f.SerializeToString()) for f in filters],
        [encode_field(ACCESS_LOG, log.SerializeToString()) for log in logs],
    )
    assert got == expected.SerializeToString()
    assert hcm_pb2.HttpConnectionManager.FromString(got) == expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decorated_managers_are_canonical_bytes(case: Path) -> None:
    """Every HTTP connection manager of every case, decorated: its bytes are those a packing
    of its content gives (what `Unpack`, change and `Pack` wrote before)."""
    proxy, push = load_case(case)
    resources = generate(proxy, push)
    seen = 0
    for encoded in resources[LISTENER].values():
        listener = listener_pb2.Listener.FromString(encoded.SerializeToString())
        for chain in [*listener.filter_chains, listener.default_filter_chain]:
            for network_filter in chain.filters:
                if network_filter.name == HCM_FILTER:
                    manager = hcm_pb2.HttpConnectionManager()
                    network_filter.typed_config.Unpack(manager)
                    assert pack(manager).value == network_filter.typed_config.value
                    seen += 1
    assert seen or not resources[LISTENER]


# Istio's buildHTTPConnectionManager (pilot/pkg/networking/core/listener_builder.go): the
# metadata exchange, CUSTOM authorization, authentication, authorization, gRPC-Web, then
# grpc_stats, then fault, CORS, the stats filter and the router (pilotfish's on-demand and
# dynamic forward proxy filters come after it too)
BEFORE_GRPC_STATS = (
    "envoy.filters.http.header_to_metadata",
    "pilotfish.peer_identity",
    "envoy.filters.http.ext_authz",
    "envoy.filters.http.jwt_authn",
    "pilotfish.authz.",
    "envoy.filters.http.rbac",
    "envoy.filters.http.grpc_web",
)
AFTER_GRPC_STATS = (
    "envoy.filters.http.on_demand",
    "envoy.filters.http.fault",
    "envoy.filters.http.cors",
    "envoy.filters.http.dynamic_forward_proxy",
    "envoy.filters.http.router",
)


def _managers(case: Path) -> list[list[str]]:
    proxy, push = load_case(case)
    found = []
    for encoded in generate(proxy, push)[LISTENER].values():
        listener = listener_pb2.Listener.FromString(encoded.SerializeToString())
        for chain in [*listener.filter_chains, listener.default_filter_chain]:
            for network_filter in chain.filters:
                if network_filter.name == HCM_FILTER:
                    manager = hcm_pb2.HttpConnectionManager()
                    network_filter.typed_config.Unpack(manager)
                    found.append([f.name for f in manager.http_filters])
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_grpc_stats_sits_where_istio_puts_it(case: Path) -> None:
    """After authentication, authorization and gRPC-Web, before fault, CORS and the router, in
    every connection manager (sidecar inbound and outbound, gateway) that has it (an
    EnvoyFilter's own filters aside)."""
    seen = 0
    for names in _managers(case):
        if GRPC_STATS not in names:
            continue
        at, seen = names.index(GRPC_STATS), seen + 1
        assert not any(n.startswith(AFTER_GRPC_STATS) for n in names[:at]), names
        assert not any(n.startswith(BEFORE_GRPC_STATS) for n in names[at + 1 :]), names
        assert names[-1] == "envoy.filters.http.router"
    assert seen


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_manager_has_istios_fault_and_cors_filters(case: Path) -> None:
    """Istio's buildHTTPConnectionManager appends fault then CORS for every listener class,
    sidecar inbound too."""
    for names in _managers(case):
        assert "envoy.filters.http.fault" in names, names
        at = names.index("envoy.filters.http.fault")
        assert names[at + 1] == "envoy.filters.http.cors", names
