"""Authorization on every gateway server, as Istio builds it: the HTTP chains of HTTPS servers get
the same policy filters, per-route rules, path normalization and trusted-proxy count as the plain
HTTP ones, and the TCP/TLS-passthrough chains the network RBAC filters (before `tcp_proxy`).
Without this a DENY at the ingress would hold on port 80 and be sidestepped on 443.

`xff_num_trusted_hops` is the gateway pod's own `gatewayTopology.numTrustedProxies` (annotation
`proxy.istio.io/config`, as Istio reads it), else MeshConfig
`defaultConfig.gatewayTopology.numTrustedProxies` (`trusted_hops`): the client address a gateway
trusts (`remoteIpBlocks`, `remote.ip`, `x-envoy-external-address`) is that many hops from the
right of `X-Forwarded-For`; 0 (Istio's default) is the connection's peer,
so a forged header changes nothing. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import AuthzFilters, with_route_rbac
from pilotfish.translate.authz.normalization import apply_normalization
from pilotfish.translate.envoy_pb import HCM_FILTER, TCP_PROXY_FILTER, pack


def trusted_hops(proxy: Proxy, push: PushContext) -> int:
    """The proxies in front of this gateway: its pod's own setting, else the mesh's."""
    own = proxy.num_trusted_proxies
    return push.mesh.num_trusted_proxies if own is None else own


def trusting(manager: hcm_pb2.HttpConnectionManager, trusted_hops: int) -> None:
    """The gateway connection manager trusts `trusted_hops` proxies in front of it."""
    if trusted_hops > 0:
        manager.xff_num_trusted_hops = trusted_hops


def with_gateway_authz(
    messages: Sequence[Message], authz: AuthzFilters, normalization: str, trusted_hops: int
) -> list[Message]:
    """The gateway's TLS/TCP listeners and HTTPS route configurations, with authorization."""
    out: list[Message] = []
    for message in messages:
        if isinstance(message, listener_pb2.Listener):
            out.append(_secured(message, authz, normalization, trusted_hops))
        elif isinstance(message, route_pb2.RouteConfiguration):
            out.append(with_route_rbac(message, authz.per_route))
        else:
            out.append(message)
    return out


def _secured(
    listener: listener_pb2.Listener, authz: AuthzFilters, normalization: str, trusted_hops: int
) -> listener_pb2.Listener:
    result = listener_pb2.Listener()
    result.CopyFrom(listener)
    for chain in result.filter_chains:
        filters = list(chain.filters)
        del chain.filters[:]
        for network_filter in filters:
            if network_filter.name == HCM_FILTER:
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                existing = list(manager.http_filters)
                del manager.http_filters[:]
                manager.http_filters.extend([*authz.http, *existing])
                apply_normalization(manager, normalization)
                trusting(manager, trusted_hops)
                network_filter.typed_config.CopyFrom(pack(manager))
            elif network_filter.name == TCP_PROXY_FILTER:
                chain.filters.extend(authz.network)
            chain.filters.append(network_filter)
    return result
