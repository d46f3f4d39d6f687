"""What the snapshot checks and on-demand narrowing read of a message, read once: of a
listener once per content (`facts`), of a route configuration or virtual host once per object
(`route_facts`, `vhost_facts`); and a listener's serialised bytes, made once per object
(`serialised`).

A sidecar's own listeners are new messages per sidecar (they bind its address), but most of
them are the same bytes as many other sidecars' but for their name and address: every
sidecar's HTTP proxy listener, the inbound listeners of a service's pods. What the snapshot
invariants read of a listener (the route configurations its connection managers take, the
clusters its TCP proxies send to, the SDS secrets its TLS chains name: `check_invariants`)
and the outbound cluster names anywhere in it (`on_demand.listener_clusters`: what a sidecar
with on-demand clusters always keeps) depend on nothing in those two fields, so they are
read once per `content` (the serialisation without them) and shared (`FACTS_MEMO` contents
kept). The bytes are also what the snapshot assembly encodes the listener from (one
serialisation per listener). Route configurations and on-demand virtual hosts are shared by
many sidecars' snapshots as objects (a namespace's `http_proxy` configuration, a service's
virtual host), each checked in every piece that holds it: their domains and the clusters
their routes name are read once per object (`OBJECTS_MEMO` kept, each with its message, so
an id is never taken for another's). Pure: reads only its argument; messages must not be
mutated once read here (as for every message a snapshot holds).
"""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf.message import Message

from pilotfish.wire import decode_varint

FACTS_MEMO = 2048  # listener contents whose facts are kept (one per service's pods, and a few)
OBJECTS_MEMO = 8192  # route configurations and virtual hosts whose facts are kept
BYTES_MEMO = 256  # listeners whose serialisation is kept (those of the sidecars last composed)
OUTBOUND_MEMO = 8192  # listeners whose outbound names are kept (two per sidecar)
_NAME, _ADDRESS = 0x0A, 0x12  # the keys of `Listener.name` (1) and `address` (2), length-delimited
OUTBOUND_NAME = re.compile(rb"outbound\|[0-9]+\|[^|\x00-\x20]*\|[A-Za-z0-9.*_-]+")
"""An outbound cluster name in serialised bytes (a match may run on into the next field's
bytes: a name is used if it starts one)."""
_PREFIX = b"outbound|"


class ListenerFacts(NamedTuple):
    """What one listener content names (in the order `check_invariants` reports it)."""

    routes: tuple[str, ...]  # RDS names of its HTTP connection managers
    tcp_clusters: tuple[str, ...]  # clusters of its TCP proxies, weighted ones too
    secrets: tuple[str, ...]  # SDS secrets over ADS its TLS chains name
    outbound: frozenset[str]  # `OUTBOUND_NAME` matches in its content


class VhostFacts(NamedTuple):
    """What one virtual host holds that the checks read."""

    name: str
    domains: tuple[str, ...]
    routes: tuple[tuple[str, tuple[str, ...]], ...]  # (route name, the clusters it names)


class RouteFacts(NamedTuple):
    """What one route configuration holds that the checks read."""

    vhds: bool  # it takes on-demand virtual hosts
    vhosts: tuple[VhostFacts, ...]


class _Serialised(NamedTuple):
    listener: Message
    data: bytes  # serialised deterministically
    head: int  # how many leading bytes are its name and address
    content: bytes  # the rest (one object: its hash is computed once)


_bytes: OrderedDict[int, _Serialised] = OrderedDict()
_outbound: OrderedDict[int, tuple[Message, frozenset[str]]] = OrderedDict()
_facts: OrderedDict[bytes, ListenerFacts] = OrderedDict()
_objects: OrderedDict[int, tuple[Message, RouteFacts | VhostFacts]] = OrderedDict()


def serialised(listener: Message) -> bytes:
    """`listener` serialised deterministically (what the snapshot encodes), once per object
    (kept for the last `BYTES_MEMO` listeners: a sidecar's are read for its on-demand
    narrowing, its check and its encoding, one after the other)."""
    return _serialised(listener).data


def _serialised(listener: Message) -> _Serialised:
    key = id(listener)
    found = _bytes.get(key)
    if found is None or found.listener is not listener:
        data = listener.SerializeToString(deterministic=True)
        head = _head_length(data)
        found = _bytes[key] = _Serialised(listener, data, head, data[head:])
        if len(_bytes) > BYTES_MEMO:
            _bytes.popitem(last=False)
    return found


def _head_length(data: bytes) -> int:
    """How many leading bytes of a serialised listener are its name and address fields (0
    when it does not start with both)."""
    at = 0
    for key in (_NAME, _ADDRESS):
        if at >= len(data) or data[at] != key:
            return 0
        length, at = decode_varint(data, at + 1)
        at += length
    return at


def facts(listener: Message) -> ListenerFacts:
    """What `listener` names, read once per content (its bytes after name and address)."""
    content = _serialised(listener).content
    found = _facts.get(content)
    if found is None:
        assert isinstance(listener, listener_pb2.Listener)
        outbound = frozenset(m.decode() for m in OUTBOUND_NAME.findall(content))
        found = ListenerFacts(
            tuple(_rds_names(listener)),
            tuple(_tcp_clusters(listener)),
            tuple(_sds_names(listener)),
            outbound,
        )
        _facts[content] = found
        if len(_facts) > FACTS_MEMO:
            _facts.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread's translation dropped it meanwhile
            _facts.move_to_end(content)
    return found


def outbound_names(listener: Message) -> frozenset[str]:
    """Every `OUTBOUND_NAME` match in `listener`'s serialisation: its content's, unless one
    may start in its name or address (then read from all its bytes); kept per object for the
    last `OUTBOUND_MEMO` listeners (a sidecar's own part outlives the push contexts of the
    changes it is not composed again for)."""
    known = _outbound.get(id(listener))
    if known is not None and known[0] is listener:
        return known[1]
    read = _serialised(listener)
    if read.data.find(_PREFIX, 0, read.head + len(_PREFIX) - 1) >= 0:
        found = frozenset(m.decode() for m in OUTBOUND_NAME.findall(read.data))
    else:
        found = facts(listener).outbound
    _outbound[id(listener)] = (listener, found)
    if len(_outbound) > OUTBOUND_MEMO:
        _outbound.popitem(last=False)
    return found


def route_facts(config: Message) -> RouteFacts:
    """What `config` (a `RouteConfiguration`) holds that the checks read, once per object."""
    found = _objects.get(id(config))
    if found is None or found[0] is not config:
        assert isinstance(config, route_pb2.RouteConfiguration)
        made = RouteFacts(config.HasField("vhds"), tuple(map(_vhost_facts, config.virtual_hosts)))
        found = _keep(config, made)
    assert isinstance(found[1], RouteFacts)
    return found[1]


def vhost_facts(vhost: Message) -> VhostFacts:
    """What `vhost` (a `VirtualHost`) holds that the checks read, once per object."""
    found = _objects.get(id(vhost))
    if found is None or found[0] is not vhost:
        assert isinstance(vhost, rc_pb2.VirtualHost)
        found = _keep(vhost, _vhost_facts(vhost))
    assert isinstance(found[1], VhostFacts)
    return found[1]


def _keep(
    message: Message, made: RouteFacts | VhostFacts
) -> tuple[Message, RouteFacts | VhostFacts]:
    found = _objects[id(message)] = (message, made)
    if len(_objects) > OBJECTS_MEMO:
        _objects.popitem(last=False)
    return found


def _vhost_facts(vhost: rc_pb2.VirtualHost) -> VhostFacts:
    routes = ((route.name, tuple(route_clusters(route))) for route in vhost.routes)
    return VhostFacts(vhost.name, tuple(vhost.domains), tuple(r for r in routes if r[1]))


def route_clusters(route: route_pb2.Route) -> Iterator[str]:
    """Every cluster a route sends to: its cluster, weighted clusters and mirrors."""
    if not route.HasField("route"):
        return
    action = route.route
    if action.cluster:
        yield action.cluster
    for weighted in action.weighted_clusters.clusters:
        yield weighted.name
    for mirror in action.request_mirror_policies:
        yield mirror.cluster


def _network_filters(listener: listener_pb2.Listener) -> Iterator[tuple[str, object]]:
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            yield network_filter.name, network_filter.typed_config


def _rds_names(listener: listener_pb2.Listener) -> Iterator[str]:
    for _, typed in _network_filters(listener):
        manager = hcm_pb2.HttpConnectionManager()
        if typed.Unpack(manager) and manager.HasField("rds"):  # type: ignore[attr-defined]
            yield manager.rds.route_config_name


def _tcp_clusters(listener: listener_pb2.Listener) -> Iterator[str]:
    for _, typed in _network_filters(listener):
        proxy = tcp_proxy_pb2.TcpProxy()
        if typed.Unpack(proxy):  # type: ignore[attr-defined]
            if proxy.cluster:
                yield proxy.cluster
            for weighted in proxy.weighted_clusters.clusters:
                yield weighted.name


def _sds_names(listener: listener_pb2.Listener) -> Iterator[str]:
    for chain in listener.filter_chains:
        context = tls_pb2.DownstreamTlsContext()
        if chain.transport_socket.typed_config.Unpack(context):
            common = context.common_tls_context
            configs = list(common.tls_certificate_sds_secret_configs)
            if common.HasField("combined_validation_context"):
                configs.append(
                    common.combined_validation_context.validation_context_sds_secret_config
                )
            # Secrets over ADS must be in the snapshot; the agent's (`sds-grpc`) come from it.
            yield from (c.name for c in configs if c.sds_config.HasField("ads"))
