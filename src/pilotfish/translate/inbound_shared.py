"""What a sidecar's inbound side shares with other sidecars' (`generate.sidecar_own`), built
once per push context: an inbound port's filter chains (`chains`), its route configuration
with the authorization rules (`routes`), and its cluster but for the app port (`cluster`).
The instances of one service give the same arguments, so each is built once per service and
port, not once per sidecar. What is returned is shared (never mutate it), but for the
cluster, a copy with the sidecar's own app port. Pure: reads only its arguments."""

from __future__ import annotations

from functools import partial

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from google.protobuf.message import Message

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service, ServicePort
from pilotfish.translate import clusters as cluster_builders
from pilotfish.translate.authz import AuthzFilters, with_route_rbac
from pilotfish.translate.retries import inbound_retry_policy
from pilotfish.translate.virtual_hosts import inbound_route_config


def chains(
    push: PushContext, authz: AuthzFilters, build: partial[list[lc_pb2.FilterChain]]
) -> list[lc_pb2.FilterChain]:
    """An inbound port's filter chains (`build`: `listeners.inbound_filter_chains` with its
    arguments), once per push context for every sidecar giving the same arguments (the
    authorization filters by content): the same for every instance of a service. Shared:
    never mutate them (a listener built of them copies them; a captured pod's virtualInbound
    changes its chains, so it builds its own)."""
    filters = _content(push, authz)
    settings = (i for i in build.keywords.items() if not i[0].endswith("_filters"))
    key = ("pilotfish.translate.inbound_shared.inbound_chains", build.args, *settings, filters)
    found: list[lc_pb2.FilterChain] | None = push.memo.get(key)
    if found is None:
        found = push.memo[key] = build()
    return found


def _content(push: PushContext, authz: AuthzFilters) -> tuple[tuple[bytes, ...], ...]:
    """The authorization filters serialised, once per object (`authz_filters` shares them)."""
    key = ("pilotfish.translate.inbound_shared.content", id(authz))
    found: tuple[AuthzFilters, tuple[tuple[bytes, ...], ...]] | None = push.memo.get(key)
    if found is None or found[0] is not authz:
        content = tuple(tuple(f.SerializeToString(deterministic=True) for f in filters)
                        for filters in (authz.http, authz.network))  # fmt: skip
        found = push.memo[key] = (authz, content)
    return found[1]


def routes(push: PushContext, container_port: int, authz: AuthzFilters, grpc: bool) -> Message:
    """An inbound port's route configuration with the authorization rules' per-route config
    and the mesh's inbound retries (none on a gRPC port), once per push context for every
    sidecar with the same port, kind and filters (`authz_filters` gives one object for all the
    sidecars the same policies apply to). Shared: never mutate it (`observability` decorates a
    copy, one per service)."""
    key = ("pilotfish.translate.inbound_shared.routes", container_port, id(authz), grpc)
    found: tuple[AuthzFilters, Message] | None = push.memo.get(key)
    if found is None or found[0] is not authz:
        retry = inbound_retry_policy(push.mesh.retries.inbound, grpc)
        routes = with_route_rbac(inbound_route_config(container_port, retry), authz.per_route)
        found = push.memo[key] = (authz, routes)
    return found[1]


def cluster(
    push: PushContext,
    container_port: int,
    app_port: int,
    http2: bool,
    targets: list[tuple[Service, ServicePort]],
) -> Message:
    """`clusters.inbound_cluster` of these arguments, built once per push context for every
    sidecar giving the same ones but the app port (every instance of a service): a copy
    with its app port (`clusters.inbound_cluster_for`)."""
    ports = tuple((id(service), port.port) for service, port in targets)
    key = ("pilotfish.translate.inbound_shared.cluster", container_port, http2, ports)
    found: tuple[tuple[Service, ...], Message] | None = push.memo.get(key)
    if found is None or any(a is not b for a, (b, _) in zip(found[0], targets, strict=True)):
        build = cluster_builders.inbound_cluster(container_port, app_port, http2, targets)
        found = push.memo[key] = (tuple(service for service, _ in targets), build)
    assert isinstance(found[1], cluster_pb2.Cluster)
    return cluster_builders.inbound_cluster_for(found[1], app_port)
