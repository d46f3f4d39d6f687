"""Where a proxy's connections to a service off the host's loopback leave from, when the proxy
shares the host's network.

A proxy sharing the host's network binds its upstream connections to its pod address (127.A.x.y,
its bootstrap's `upstream_bind_config`: what mesh peers and their policies see), and the kernel
refuses a 127/8 source for any destination off the host's loopback (EINVAL: every request got
503). Clusters to places outside the mesh always let the kernel choose (`clusters`: the
PassthroughCluster, a MESH_EXTERNAL ServiceEntry's). Inside the mesh, a service whose endpoints
are all IP addresses off loopback (a VM, as Istio's VM docs have it: a MESH_INTERNAL
ServiceEntry's own endpoint, WorkloadEntries it or a Kubernetes Service selects) is reached
from the node too (`0.0.0.0`), but only by a proxy bound to a loopback address
(`binds_loopback`): a proxy bound to an address off loopback (an isolated mesh's ingress
gateway, 10.A.0.2 on the pods' bridge) keeps its own, so a policy naming it holds, and a pod in
its own network namespace binds nothing. A bind is per cluster, not per endpoint: a service
with endpoints on both sides keeps the pod address (policies on it hold; its endpoints off
loopback stay unreachable from the host's network).

Sharing: clusters do not depend on the proxy; `bound(part, block, proxy, push)` is the
proxy's outbound part itself for a proxy not bound to loopback or a block with no such cluster,
else one part per (part, push), shared by every proxy bound to loopback. An endpoint change
that flips a cluster needs no full push: the block's part is made again for the new endpoints
(`generate.with_new_endpoints`), this with it, and the changed cluster is sent with them
(`tests/controlplane/test_source_address_flip.py`). Pure.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf.message import Message

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service, ServicePort
from pilotfish.translate.carry import carry_of
from pilotfish.translate.clusters import any_source
from pilotfish.translate.outbound import OutboundBlock
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, ENDPOINT


def binds_loopback(proxy: Proxy) -> bool:
    """The proxy binds its connections to a loopback address: it shares the host's network (not
    captured) and its address is on loopback (the agent's `spec.source_address`)."""
    return not proxy.captured and _loopback(proxy.ip)


@functools.lru_cache(maxsize=4096)
def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _any_off_loopback(push: PushContext) -> bool:
    """Some endpoint of the registry is an IP address off loopback (once per registry: in a
    mesh sharing the host's network, usually none, and nothing more is looked at)."""
    memo = push.registry_memo
    key = "pilotfish.translate.source_bind.any"
    found: bool | None = memo.get(key)
    if found is None:
        addresses = {i.address for i in push.registry.instances}
        addresses.update(e.address for s in push.registry.services for e in s.entries)
        found = memo[key] = any(map(_ip_off_loopback, addresses))
    return found


def off_loopback(service: Service, port: ServicePort, push: PushContext) -> bool:
    """Whether every endpoint of the service port is an IP address off the host's loopback (a
    hostname or a unix socket: not known, so False); False without endpoints."""
    memo = push.registry_memo  # of the registry alone, as the endpoints
    key = ("pilotfish.translate.source_bind.off_loopback", service.hostname, port.port)
    found: bool | None = memo.get(key)
    if found is None:
        addresses = {e.address for e in push.endpoints(service, port)}
        found = memo[key] = bool(addresses) and all(map(_ip_off_loopback, addresses))
    return found


def _ip_off_loopback(address: str) -> bool:
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def bound(
    part: ProxyResources, block: OutboundBlock, proxy: Proxy, push: PushContext
) -> ProxyResources:
    """`part` (the block's resources, localized for `proxy`) with the clusters a proxy bound to
    loopback reaches from the node (see the docstring)."""
    if not binds_loopback(proxy) or not _any_off_loopback(push):
        return part
    key = ("pilotfish.translate.source_bind.names", id(block))
    held: tuple[OutboundBlock, tuple[str, ...]] | None = push.memo.get(key)
    if held is None:  # once per push context (endpoints are not in a carried unit's key)
        held = push.memo[key] = (block, _from_node(block, push))
    names = held[1]
    if not names:
        return part
    return carry_of(push).unit(
        push,
        ("pilotfish.translate.source_bind.part", id(part), names),
        lambda: _part(part, names),
        keep=part,
    )


def _from_node(block: OutboundBlock, push: PushContext) -> tuple[str, ...]:
    """The block's EDS clusters to a service port off loopback, which do not already let the
    kernel choose."""
    found = []
    for name, spec in block.specs.items():
        cluster = block.resources[CLUSTER].get(name)
        if (
            isinstance(cluster, cluster_pb2.Cluster)
            and cluster.type == cluster_pb2.Cluster.EDS
            and not cluster.HasField("upstream_bind_config")
            and off_loopback(spec.service, spec.port, push)
        ):
            found.append(name)
    return tuple(found)


def _part(part: ProxyResources, names: tuple[str, ...]) -> ProxyResources:
    clusters: dict[str, Message] = dict(part[CLUSTER])
    for name in names:
        copy = cluster_pb2.Cluster()
        copy.CopyFrom(clusters[name])
        any_source(copy)
        clusters[name] = copy
    endpoints: Mapping[str, Message] = part[ENDPOINT]
    return ProxyResources({CLUSTER: clusters, ENDPOINT: endpoints}, part.diagnostics)
