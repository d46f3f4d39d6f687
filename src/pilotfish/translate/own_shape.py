"""A sidecar's own part translated once per shape: what it is with its address, pod name and app
ports aside (`own_part`).

Sidecars of one workload get the same own part but for what they bind: each listener's name
and address carry the pod's IP, and each inbound cluster forwards to the port the pod's app
listens on. So once a second sidecar of one key (`standin`: the proxy with `STANDIN_IP`,
`STANDIN_INSTANCE` and app ports `SENTINEL_PORT + k`) asks in a push context, the own part is
translated for the stand-in (its shape), and that sidecar and every later one of the key get
it spliced (`OwnShape.spliced`): listeners re-encoded from their name and address fields in
front of the stand-in listener's other bytes (protobuf writes fields in field-number order:
`Listener.name` is 1, `address` 2), inbound clusters copied with their app port, everything else
the very same messages. The result is a `SplicedPart`, whose shape lets the snapshot assembly
check once per shape what is the same (`invariants.check_spliced`) and encode its listeners
from their bytes. The first sidecar of a key is translated as itself: a sidecar alone of its
kind (the scale benchmark's: one pod per workload) costs what it did, and a key lookup. The
key is the whole proxy but those three: the labels (version) and workload of two workloads
whose parts are the same still make two keys (equal shapes are then one object).

A shape is used only where translation is known to read the address, the pod name and the app
ports for nothing else: a plain sidecar (not captured, no `Sidecar` ingress, no EnvoyFilter),
and only if the stand-in's part holds neither stand-in string anywhere but in the names and
addresses spliced, nor a sentinel port anywhere but in an inbound cluster's endpoint (else the
proxy is translated as itself). `tests/translate/test_own_shape.py`: every testdata sidecar's
spliced part is byte for byte its own translation.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import envoy_filters, sidecar_scope
from pilotfish.translate.envoy_pb import socket_address
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, LISTENER, RESOURCE_TYPES
from pilotfish.wire import encode_field, encode_varint

STANDIN_IP = "192.0.2.254"  # TEST-NET-1 (RFC 5737): no real pod has it
STANDIN_INSTANCE = "pilotfish-own-shape-stand-in"
SENTINEL_PORT = 1_000_000  # past every TCP port: the k-th app port is this + k
INBOUND_CLUSTER_PREFIX = "inbound|"


class SplicedPart(ProxyResources):
    """A sidecar's own part spliced from its `shape`: `heads` maps each spliced listener's
    name to (the stand-in's name, its name and address fields serialised); the listener's
    serialisation is that head followed by the stand-in's rest (`OwnShape.rest`)."""

    __slots__ = ("heads", "shape")

    def __init__(
        self,
        by_type: Mapping[str, Mapping[str, Message]],
        diagnostics: Iterable[Diagnostic],
        shape: OwnShape,
        heads: dict[str, tuple[str, bytes]],
    ) -> None:
        super().__init__(by_type, diagnostics)
        self.shape, self.heads = shape, heads


class OwnShape:
    """How to splice a proxy into the stand-in's own part: its listeners bound to the stand-in
    address, by name, with their port and bytes after name and address (`rest`), the inbound
    clusters' endpoints (index paths) holding each sentinel port (`ports`), and the rest of the
    part as it is (`fixed`)."""

    __slots__ = ("content", "fixed", "ports", "rest")

    def __init__(self, template: ProxyResources) -> None:
        self.fixed = template  # `shape_of` takes the spliced listeners out
        self.content = b""  # a digest of all of it serialised (equal shapes are one object)
        self.rest: dict[str, tuple[int, bytes]] = {}
        self.ports: dict[str, list[tuple[int, int, int]]] = {}

    def template(self) -> ProxyResources:
        """The stand-in's own part (what a check of the shape reads)."""
        by_type = {t: dict(self.fixed[t]) for t in RESOURCE_TYPES}
        for name, (port, rest) in self.rest.items():
            data = _head(name, STANDIN_IP, port) + rest
            by_type[LISTENER][name] = listener_pb2.Listener.FromString(data)
        return ProxyResources(by_type, self.fixed.diagnostics)

    def spliced(self, proxy: Proxy) -> SplicedPart:
        """`proxy`'s own part: the stand-in's with its address and app ports."""
        by_type = {t: dict(self.fixed[t]) for t in RESOURCE_TYPES}
        listeners, heads = by_type[LISTENER], {}
        for name, (port, rest) in self.rest.items():
            own_name = name.replace(STANDIN_IP, proxy.ip)
            head = _head(own_name, proxy.ip, port)
            listeners[own_name] = listener_pb2.Listener.FromString(head + rest)
            heads[own_name] = (name, head)
        app_ports = [app for _, app in proxy.app_ports]
        clusters = by_type[CLUSTER]
        for name, where in self.ports.items():
            cluster = cluster_pb2.Cluster()
            cluster.CopyFrom(clusters[name])
            for locality, endpoint, sentinel in where:
                at = cluster.load_assignment.endpoints[locality].lb_endpoints[endpoint]
                at.endpoint.address.socket_address.port_value = app_ports[sentinel]
            clusters[name] = cluster
        return SplicedPart(by_type, self.fixed.diagnostics, self, heads)


def _head(name: str, ip: str, port: int) -> bytes:
    """A listener's name (field 1) and address (field 2), serialised."""
    address = socket_address(ip, port).SerializeToString(deterministic=True)
    return encode_field(1, name.encode()) + encode_field(2, address)


def standin(proxy: Proxy) -> Proxy:
    """`proxy` with its address, pod name (when it has a workload name: only then does
    translation not read it) and app ports replaced: what its shape is keyed by."""
    return dataclasses.replace(
        proxy,
        ip=STANDIN_IP,
        instance=STANDIN_INSTANCE if proxy.workload else proxy.instance,
        app_ports=tuple((c, SENTINEL_PORT + k) for k, (c, _) in enumerate(proxy.app_ports)),
    )


_KEPT = tuple(f.name for f in dataclasses.fields(Proxy) if f.name not in ("ip", "app_ports"))


def _key(proxy: Proxy) -> tuple[object, ...]:
    """What `standin(proxy)` is made of (every field of the proxy but its address, pod name
    when it has a workload, and app ports; their container ports), without making it."""
    found = [getattr(proxy, name) for name in _KEPT]
    found[_KEPT.index("instance")] = STANDIN_INSTANCE if proxy.workload else proxy.instance
    return (*found, tuple(container for container, _ in proxy.app_ports))


def own_part(
    proxy: Proxy, push: PushContext, translate: Callable[[Proxy], ProxyResources]
) -> ProxyResources:
    """`translate(proxy)` (a sidecar's own part, before EnvoyFilters), spliced from its shape's
    when it may be (the module docstring); `push` is the full push context."""
    if proxy.is_gateway or proxy.captured or envoy_filters.patches_for(proxy, push):
        return translate(proxy)
    if sidecar_scope.ingress_ports(proxy, push) is not None:
        return translate(proxy)
    key = ("pilotfish.translate.own_shape", *_key(proxy))
    seen = push.memo.get(key)
    if seen is None or seen == proxy.ip:  # the first sidecar of the key (again)
        push.memo[key] = proxy.ip
        return translate(proxy)
    if isinstance(seen, str):  # a second one
        found = shape_of(translate(standin(proxy)), len(proxy.app_ports))
        if found is not None:  # one object for equal shapes (their checks are one), and for
            found = push.memo.setdefault(("pilotfish.translate.own_shape", found.content), found)
            for name, (port, rest) in found.rest.items():  # equal listeners one `rest`
                rest = push.memo.setdefault(("pilotfish.translate.own_shape.rest", rest), rest)
                found.rest[name] = (port, rest)
        push.memo[key] = seen = found if found is not None else False
    return shape.spliced(proxy) if isinstance(shape := seen, OwnShape) else translate(proxy)


def shape_of(template: ProxyResources, app_ports: int) -> OwnShape | None:
    """The stand-in's own part as a shape, or None if it holds a stand-in value anywhere it
    would not be spliced (translation read it for something else)."""
    shape = OwnShape(template)
    texts = (STANDIN_IP, STANDIN_INSTANCE)
    taints = [t.encode() for t in texts]  # and each sentinel as a `port_value` (field 3):
    taints += [b"\x18" + encode_varint(SENTINEL_PORT + k) for k in range(app_ports)]
    notes = tuple(str(d) for d in template.diagnostics)
    if any(t in note for note in notes for t in texts):
        return None
    content = hashlib.sha256("\n".join(notes).encode())
    for type_url in RESOURCE_TYPES:
        for name, message in template[type_url].items():
            data = message.SerializeToString(deterministic=True)
            content.update(f"{type_url}:{len(name)}:{name}:{len(data)}:".encode() + data)
            if type_url == LISTENER and STANDIN_IP.encode() in data:
                assert isinstance(message, listener_pb2.Listener)
                rest = _rest(name, message, data)
                if rest is None:
                    return None
                data = rest
                shape.rest[name] = (message.address.socket_address.port_value, rest)
            elif any(t in name for t in texts):
                return None
            if type_url == CLUSTER and message.name.startswith(INBOUND_CLUSTER_PREFIX):
                assert isinstance(message, cluster_pb2.Cluster)
                data = _sentinels(shape, name, message, app_ports)
            if any(t in data for t in taints):
                return None
    shape.content = content.digest()
    fixed = {t: dict(template[t]) for t in RESOURCE_TYPES}
    for name in shape.rest:
        del fixed[LISTENER][name]
    shape.fixed = ProxyResources(fixed, template.diagnostics)
    return shape


def _rest(name: str, listener: listener_pb2.Listener, data: bytes) -> bytes | None:
    """A stand-in listener's bytes after its name and address, if it binds the stand-in
    address (and nothing else of it) and its name holds that address once at most."""
    port = listener.address.socket_address.port_value
    head = _head(name, STANDIN_IP, port)
    if name.count(STANDIN_IP) > 1 or listener.address != socket_address(STANDIN_IP, port):
        return None
    return data[len(head) :] if data.startswith(head) else None


def _sentinels(shape: OwnShape, name: str, cluster: cluster_pb2.Cluster, app_ports: int) -> bytes:
    """Record where an inbound cluster's endpoints hold sentinel ports; the cluster's bytes
    with those ports cleared (any sentinel left is one translation put elsewhere)."""
    found: list[tuple[int, int, int]] = []
    copy = cluster_pb2.Cluster()
    copy.CopyFrom(cluster)
    for i, locality in enumerate(copy.load_assignment.endpoints):
        for j, endpoint in enumerate(locality.lb_endpoints):
            address = endpoint.endpoint.address.socket_address
            if 0 <= address.port_value - SENTINEL_PORT < app_ports:
                found.append((i, j, address.port_value - SENTINEL_PORT))
                address.port_value = 0
    if found:
        shape.ports[name] = found
    data: bytes = copy.SerializeToString(deterministic=True)
    return data
