"""HTTP routes: Istio's default route and VirtualService `http` routes -> Envoy `Route`s.

Routes keep the VirtualService's order (first match wins); several match blocks become one
Envoy route each with the same action. Destinations resolve to outbound clusters with the
weight rules of `destinations.py`; a route left with no destination answers 503 directly (where
Istio would point at a missing cluster and Envoy would answer 503 NC), so the snapshot stays
consistent and the route still shadows later ones.
Delegating routes are expanded first (`delegates.py`); headers of a lone destination go on the
route, those of weighted destinations on their cluster weight. Every route names the
VirtualService in its `istio` metadata (`istio_metadata.py`), the default route none.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from pilotfish.config.objects import Diagnostic, VirtualService
from pilotfish.translate import names
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.delegates import http_routes
from pilotfish.translate.destinations import Destinations, ServiceLookup, lone_destination, split
from pilotfish.translate.envoy_pb import duration, duration_of
from pilotfish.translate.istio_metadata import config_metadata, config_path
from pilotfish.translate.retries import outbound_retry_policy
from pilotfish.translate.route_actions import apply_extras, headers_to_add, terminal_action
from pilotfish.translate.route_match import gateway_semantics, match_applies, route_match
from pilotfish.translate.traffic_policy import hash_policies

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Destination,
        HTTPMatchRequest,
        HTTPRetry,
        HTTPRoute,
    )

MAX_DIRECT_RESPONSE_BODY_BYTES = 1024 * 1024  # Istio's, where Envoy's default is 4 KiB


def with_istio_route_defaults(
    config: route_pb2.RouteConfiguration,
) -> route_pb2.RouteConfiguration:
    """What Istio sets on every outbound and gateway route configuration: direct response bodies
    up to 1 MiB, and `x-envoy-attempt-count` sent upstream from every virtual host."""
    config.max_direct_response_body_size_bytes.value = MAX_DIRECT_RESPONSE_BODY_BYTES
    for vhost in config.virtual_hosts:
        vhost.include_request_attempt_count = True
    return config


@dataclass
class RouteContext:
    """What building routes for one virtual host needs to know; collects diagnostics."""

    registry: ServiceLookup
    clusters: Mapping[str, OutboundClusterSpec]
    port: int
    gateway: str  # "mesh" for sidecars, "ns/name" for a gateway
    proxy_labels: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    proxy_namespace: str = ""
    virtual_services: Sequence[VirtualService] = ()  # where delegates are looked up
    default_retries: HTTPRetry | None = None  # MeshConfig defaultHttpRetryPolicy (None: Istio's)

    def report(self, level: str, message: str, config: VirtualService, path: str) -> None:
        self.diagnostics.append(
            config.diagnostic(message, path, "error" if level == "error" else "warning")
        )

    @property
    def destinations(self) -> Destinations:
        return Destinations(self.registry, self.clusters, self.port, self.diagnostics)


def _set_timeout(action: rc_pb2.RouteAction, timeout: object = None) -> None:
    """As Istio: `timeout` (0 = none), and gRPC's own `grpc-timeout` header honoured up to it."""
    value = duration_of(timeout) or duration(0)
    action.timeout.CopyFrom(value)
    set_grpc_timeout_cap(action, value)


def set_grpc_timeout_cap(action: rc_pb2.RouteAction, value: duration_pb2.Duration) -> None:
    """Istio caps `grpc-timeout` with the deprecated `max_grpc_timeout` (its replacement
    `max_stream_duration` makes Envoy ignore the route `timeout`), and Envoy then logs a
    deprecation warning for every route. Same behaviour, no warning: with no route timeout, the
    header is honoured uncapped through `max_stream_duration.grpc_timeout_header_max: 0`; with
    one, the route timeout applies to gRPC too (a shorter client deadline still ends the call
    at the client)."""
    if not value.seconds and not value.nanos:
        action.max_stream_duration.grpc_timeout_header_max.CopyFrom(value)


def default_route(
    cluster: str,
    hash_policy: list[rc_pb2.RouteAction.HashPolicy],
    default_retries: HTTPRetry | None = None,
) -> rc_pb2.Route:
    """Istio's `default` route: everything to one cluster, the mesh's default retries, no
    timeout. As Istio's, its retries move to other hosts even with consistent hashing (its
    BuildDefaultHTTPOutboundRoute converts the policy without the hash)."""
    action = rc_pb2.RouteAction(cluster=cluster)
    retry = outbound_retry_policy(default_retries)
    if retry is not None:
        action.retry_policy.CopyFrom(retry)
    _set_timeout(action)
    action.hash_policy.extend(hash_policy)
    return rc_pb2.Route(name=names.DEFAULT_ROUTE, match=rc_pb2.RouteMatch(prefix="/"), route=action)


def virtual_service_routes(root: VirtualService, ctx: RouteContext) -> list[rc_pb2.Route]:
    routes: list[rc_pb2.Route] = []
    report = functools.partial(ctx.report, "warning")
    source = config_metadata(config_path(root.meta))  # delegates' too: the root's, as Istio
    for vs, http, path in http_routes(root, ctx.virtual_services, report):
        matches = list(http.match or ())
        applying = [
            m
            for m in matches
            if match_applies(
                m,
                port=ctx.port,
                gateway=ctx.gateway,
                namespace=vs.meta.namespace,
                labels=ctx.proxy_labels,
                proxy_namespace=ctx.proxy_namespace,
            )
        ]
        if matches and not applying:
            continue
        template = rc_pb2.Route()
        template.metadata.CopyFrom(source)
        if not terminal_action(template, http, ctx.port):
            action = _forward_action(vs, http, path, ctx)
            if action is None:
                ctx.report("warning", "no usable destination: the route answers 503", vs, path)
                template.direct_response.status = 503
            else:
                template.route.CopyFrom(action)
        apply_extras(template, http, functools.partial(_mirror_cluster, vs, path, ctx))
        lone = lone_destination(http)
        if template.route.cluster and lone is not None:
            headers_to_add(template, lone.headers)
        every: list[HTTPMatchRequest | None] = [*applying] or [None]
        for match in every:
            route = rc_pb2.Route()
            route.CopyFrom(template)
            route.match.CopyFrom(route_match(match, gateway_semantics(vs)))
            route.name = ".".join(n for n in (http.name, match and match.name) if n)
            route.decorator.operation = names.route_operation(route, root.meta.name, ctx.port)
            routes.append(route)
    return routes


def _forward_action(
    vs: VirtualService, http: HTTPRoute, path: str, ctx: RouteContext
) -> rc_pb2.RouteAction | None:
    action = rc_pb2.RouteAction()
    _set_timeout(action, http.timeout)
    targets = ctx.destinations.targets(vs, http, path)
    # as Istio: a lone destination with consistent hashing keeps its retries on the hashed host
    lone = len(http.route or ()) == 1
    policies = (ctx.clusters[t.cluster].policy.load_balancer for t in targets)
    hashed = lone and any(hash_policies(policy) for policy in policies)
    written = http.retries if http.retries is not None else ctx.default_retries
    retry = outbound_retry_policy(written, consistent_hash=hashed)
    if retry is not None:
        action.retry_policy.CopyFrom(retry)
    traffic = split(http, targets)
    if traffic is None:
        return None
    if isinstance(traffic, str):
        action.cluster = traffic
        action.hash_policy.extend(hash_policies(ctx.clusters[traffic].policy.load_balancer))
        return action
    for target in traffic:
        weighted = rc_pb2.WeightedCluster.ClusterWeight(
            name=target.cluster, weight=wrappers_pb2.UInt32Value(value=target.weight)
        )
        headers_to_add(weighted, target.destination.headers)
        action.weighted_clusters.clusters.append(weighted)
    return action


def _mirror_cluster(
    vs: VirtualService, path: str, ctx: RouteContext, destination: Destination | None
) -> str | None:
    return ctx.destinations.cluster(vs, destination, f"{path}.mirror")
