"""One HTTP connection manager's telemetry (`decorate_hcm`, for `translate.observability`): the
peer-exchange filter before its HTTP filters, the gRPC stats filter where Istio's
buildHTTPConnectionManager has it (after authentication, authorization and gRPC-Web, before
fault, CORS and the router: before the first of `AFTER_GRPC_STATS`), the metric loggers and the
file access logs after its access logs, spliced into its serialised bytes.

A proxy's three managers each get loggers of their own (the proxy's identity is in their
tags, unless its Envoy reads it from its environment: `telemetry.identity_env`), so this runs
three times per sidecar connect. The manager is not unpacked and packed
again: the new filters and loggers are serialised entries of the manager's repeated
`http_filters` (5) and `access_log` (13) fields, put where a serialisation of the changed
manager has them (protobuf writes fields in field-number order, a repeated field's entries
together and in order), so the bytes are those `Unpack`, `extend` and `Pack` gave
(`tests/translate/test_hcm_telemetry.py` compares them; measured: the unpack/pack of the
managers was ~1 s of a 2,000-proxy connect storm's ~5 s translation, BENCHMARKS.md). Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2

from pilotfish.telemetry import exchange, identity_env
from pilotfish.telemetry.http_stats import http_stats_bytes
from pilotfish.telemetry.labels import Reporter, ServiceLabels
from pilotfish.telemetry.metrics import MetricsPolicy, grpc_stats_filter, reads_peer
from pilotfish.translate.envoy_pb import ROUTER_FILTER
from pilotfish.translate.listeners import DFP_FILTER
from pilotfish.translate.on_demand import ON_DEMAND_FILTER
from pilotfish.translate.route_filters import CORS_FILTER, FAULT_FILTER
from pilotfish.translate.virtual_hosts import pod_local_authorities
from pilotfish.wire import decode_varint, encode_field

AFTER_GRPC_STATS = frozenset(
    name.encode()
    for name in (ON_DEMAND_FILTER, FAULT_FILTER, CORS_FILTER, DFP_FILTER, ROUTER_FILTER)
)  # the filters Istio's (and pilotfish's own) put after grpc_stats
FILTERS_MEMO = 8192  # managers' telemetry pieces kept (a few per shape, service and identity)
HTTP_FILTERS = 5  # HttpConnectionManager.http_filters
ACCESS_LOG = 13  # HttpConnectionManager.access_log


def decorate_hcm(
    network_filter: lc_pb2.Filter,
    reporter: Reporter,
    me: exchange.Identity,
    policy: MetricsPolicy,
    service: ServiceLabels | None,
    logs: list[accesslog_pb2.AccessLog],
    mtls: bool | None,
    gateway: bool = False,
    env: bool = False,
    exchanged: bool = True,
) -> None:
    """Give the manager of `network_filter` the telemetry of `reporter`'s side (`env`: the
    proxy's identity is read from its Envoy's environment, `identity_env`; `exchanged`: some
    server of the mesh may read a client's identity, `policy.peers_exchanged`, else a client
    side sends none)."""
    # the outbound HTTP proxy's pod-local routes are no traffic of Istio's (`skipping_authorities`)
    skip = tuple(pod_local_authorities()) if reporter is Reporter.SOURCE and not gateway else ()
    stats = http_stats_bytes(reporter, me, policy, service, mtls, skip, env)
    sender = None if env or reporter is Reporter.DESTINATION else me
    config = network_filter.typed_config
    config.value = _spliced(
        config.value,
        _first_filters(reporter, sender, policy, bool(mtls), exchanged),
        _grpc_stats(reporter, policy),
        _access_logs(stats)
        + tuple(encode_field(ACCESS_LOG, log.SerializeToString()) for log in logs),
    )


@functools.lru_cache(maxsize=FILTERS_MEMO)
def _first_filters(
    reporter: Reporter,
    sender: exchange.Identity | None,
    policy: MetricsPolicy,
    mtls: bool,
    exchanged: bool,
) -> tuple[bytes, ...]:
    """The serialised `http_filters` entries before the manager's own: the peer exchange
    (`sender`: the identity a client side writes, None: read from the environment; nothing
    unless `exchanged`). Memoised: the same for every proxy but a client's literal identity."""
    if reporter is Reporter.DESTINATION:  # learn the client (the server is its endpoint's)
        reads = reads_peer(policy, reporter)  # else the route removes the header (`_route_config`)
        exchange_filters = [exchange.downstream_peer_filter(from_sidecar=mtls)] if reads else []
    elif not exchanged:  # no server reads it: nothing sent
        exchange_filters = []
    elif sender is None:  # tell the server who is calling: the value from the environment
        exchange_filters = [
            exchange.sending_filter(identity_env.operator(identity_env.PEER_VARIABLE))
        ]
    else:
        exchange_filters = [exchange.identity_filter(sender)]
    return tuple(encode_field(HTTP_FILTERS, f.SerializeToString()) for f in exchange_filters)


@functools.lru_cache(maxsize=FILTERS_MEMO)
def _grpc_stats(reporter: Reporter, policy: MetricsPolicy) -> tuple[bytes, ...]:
    """The gRPC stats filter as an `http_filters` entry, when this side emits a gRPC metric."""
    grpc = grpc_stats_filter(reporter, policy)
    return () if grpc is None else (encode_field(HTTP_FILTERS, grpc.SerializeToString()),)


@functools.lru_cache(maxsize=FILTERS_MEMO)
def _access_logs(stats: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The metric loggers as `access_log` entries (memoised: shared loggers are the same bytes
    objects, whose hashes Python keeps)."""
    return tuple(encode_field(ACCESS_LOG, data) for data in stats)


@functools.lru_cache(maxsize=FILTERS_MEMO)
def _spliced(
    data: bytes,
    first_filters: tuple[bytes, ...],
    late_filters: tuple[bytes, ...],
    last_logs: tuple[bytes, ...],
) -> bytes:
    return spliced(data, first_filters, last_logs, late_filters)


def spliced(
    data: bytes,
    first_filters: Sequence[bytes],
    last_logs: Sequence[bytes],
    late_filters: Sequence[bytes] = (),
) -> bytes:
    """A serialised manager with `first_filters` (serialised `http_filters` entries) before its
    HTTP filters, `late_filters` before its first filter named in `AFTER_GRPC_STATS` (else after
    its filters) and `last_logs` (serialised `access_log` entries) after its access logs."""
    before = late = after = -1  # offsets: before the first field >= 5, before the first filter
    offset, end = 0, len(data)  # of AFTER_GRPC_STATS, after the last field <= 13
    while offset < end:
        key, at = decode_varint(data, offset)
        number, wire = key >> 3, key & 7
        if before < 0 and number >= HTTP_FILTERS:
            before = offset
        if late < 0 and number > HTTP_FILTERS and before >= 0:
            late = offset  # after the last filter
        if number > ACCESS_LOG:
            after = offset
            break
        if wire == 0:
            _, at = decode_varint(data, at)
        elif wire == 2:
            length, at = decode_varint(data, at)
            if late < 0 and number == HTTP_FILTERS and _filter_name(data, at) in AFTER_GRPC_STATS:
                late = offset
            at += length
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise ValueError(f"wire type {wire} in a serialised HttpConnectionManager")
        offset = at
    before = end if before < 0 else before
    late = end if late < 0 else late
    after = end if after < 0 else after
    return b"".join(
        (data[:before], *first_filters, data[before:late], *late_filters, data[late:after],
         *last_logs, data[after:])
    )  # fmt: skip


def _filter_name(data: bytes, at: int) -> bytes:
    """The name of the serialised HttpFilter at `at` (its field 1, which protobuf writes
    first); b"" when it has none."""
    if at >= len(data) or data[at] != 0x0A:
        return b""
    length, start = decode_varint(data, at + 1)
    return data[start : start + length]
