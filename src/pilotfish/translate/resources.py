"""`ProxyResources`: the immutable result of translating for one proxy.

A frozen mapping type URL -> {resource name -> protobuf message} over the resource types
pilotfish generates (LDS, RDS, CDS, EDS and SDS for gateway credentials, v3), each sorted by
name, plus the diagnostics found while generating. Building one never raises: a duplicate name
keeps the first resource and adds a diagnostic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
RESOURCE_TYPES: tuple[str, ...] = (
    LISTENER_TYPE,
    ROUTE_TYPE,
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    SECRET_TYPE,
)

_MESSAGE_TYPES: dict[str, type[Message]] = {
    LISTENER_TYPE: listener_pb2.Listener,
    ROUTE_TYPE: route_pb2.RouteConfiguration,
    CLUSTER_TYPE: cluster_pb2.Cluster,
    ENDPOINT_TYPE: endpoint_pb2.ClusterLoadAssignment,
    SECRET_TYPE: secret_pb2.Secret,
}


def resource_name(message: Message) -> str:
    """The xDS name of a resource: `cluster_name` for ClusterLoadAssignment, `name` otherwise."""
    if isinstance(message, endpoint_pb2.ClusterLoadAssignment):
        return str(message.cluster_name)
    return str(getattr(message, "name", ""))


def type_url_of(message: Message) -> str:
    for type_url, message_type in _MESSAGE_TYPES.items():
        if isinstance(message, message_type):
            return type_url
    raise TypeError(f"not an xDS resource pilotfish generates: {type(message).__name__}")


class ProxyResources(Mapping[str, Mapping[str, Message]]):
    """type URL -> {name -> message}, sorted and read-only. Unused types map to `{}`."""

    __slots__ = ("_by_type", "diagnostics")

    def __init__(
        self,
        by_type: Mapping[str, Mapping[str, Message]],
        diagnostics: Iterable[Diagnostic] = (),
    ) -> None:
        self._by_type: Mapping[str, Mapping[str, Message]] = MappingProxyType(
            {
                type_url: MappingProxyType(dict(sorted(by_type.get(type_url, {}).items())))
                for type_url in RESOURCE_TYPES
            }
        )
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)

    @classmethod
    def build(
        cls, messages: Iterable[Message], diagnostics: Iterable[Diagnostic] = ()
    ) -> ProxyResources:
        """Group messages by type; a repeated name keeps the first and reports the others."""
        found: dict[str, dict[str, Message]] = {t: {} for t in RESOURCE_TYPES}
        problems = list(diagnostics)
        for message in messages:
            type_url = type_url_of(message)
            name = resource_name(message)
            if name in found[type_url]:
                kind = type_url.rsplit(".", 1)[-1]
                problems.append(
                    Diagnostic("warning", f"duplicate {kind} {name!r}: kept the first", kind=kind)
                )
                continue
            found[type_url][name] = message
        return cls(found, problems)

    def __getitem__(self, type_url: str) -> Mapping[str, Message]:
        return self._by_type[type_url]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)

    def __repr__(self) -> str:
        counts = ", ".join(f"{t.rsplit('.', 1)[-1]}={len(v)}" for t, v in self._by_type.items())
        return f"ProxyResources({counts}, diagnostics={len(self.diagnostics)})"

    @property
    def listeners(self) -> Mapping[str, Message]:
        return self._by_type[LISTENER_TYPE]

    @property
    def routes(self) -> Mapping[str, Message]:
        return self._by_type[ROUTE_TYPE]

    @property
    def clusters(self) -> Mapping[str, Message]:
        return self._by_type[CLUSTER_TYPE]

    @property
    def endpoints(self) -> Mapping[str, Message]:
        return self._by_type[ENDPOINT_TYPE]

    @property
    def secrets(self) -> Mapping[str, Message]:
        return self._by_type[SECRET_TYPE]

    def version(self, type_url: str) -> str:
        """Content hash of one resource type (deterministic serialisation), for xDS versions."""
        digest = hashlib.sha256()
        for name, message in self._by_type[type_url].items():
            digest.update(name.encode())
            digest.update(b"\0")
            digest.update(message.SerializeToString(deterministic=True))
        return digest.hexdigest()[:16]
