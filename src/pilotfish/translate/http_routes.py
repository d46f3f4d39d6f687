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
from http import HTTPStatus
from typing import TYPE_CHECKING

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import (
    previous_priorities_config_pb2,
)
from google.protobuf import duration_pb2, wrappers_pb2

from pilotfish.config.objects import Diagnostic, VirtualService
from pilotfish.translate import names
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.delegates import http_routes
from pilotfish.translate.destinations import Destinations, ServiceLookup, lone_destination, split
from pilotfish.translate.envoy_pb import duration, duration_of, pack
from pilotfish.translate.istio_metadata import config_metadata, config_path
from pilotfish.translate.route_actions import apply_extras, headers_to_add, terminal_action
from pilotfish.translate.route_match import gateway_semantics, match_applies, route_match
from pilotfish.translate.traffic_policy import hash_policies

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Destination,
        HTTPMatchRequest,
        HTTPRoute,
    )

MAX_DIRECT_RESPONSE_BODY_BYTES = 1024 * 1024  # Istio's, where Envoy's default is 4 KiB
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
PREVIOUS_HOSTS_PREDICATE = "envoy.retry_host_predicates.previous_hosts"
PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"
HTTP_STATUS_CODES = frozenset(int(s) for s in HTTPStatus)  # Go's http.StatusText set


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

    def report(self, level: str, message: str, config: VirtualService, path: str) -> None:
        self.diagnostics.append(
            config.diagnostic(message, path, "error" if level == "error" else "warning")
        )

    @property
    def destinations(self) -> Destinations:
        return Destinations(self.registry, self.clusters, self.port, self.diagnostics)


def retry_policy(
    attempts: int = 2,
    retry_on: str | None = None,
    per_try_timeout: object = None,
    ignore_previous_hosts: bool = True,
    backoff: object = None,
    remote_localities: bool = False,
) -> rc_pb2.RetryPolicy:
    """Istio's retry policy; `retry_on` entries that are HTTP status codes become retriable
    status codes. Without `retry_on`, Istio's default conditions and 503."""
    conditions: list[str] = []
    codes: list[int] = []
    for token in (t.strip() for t in (retry_on or DEFAULT_RETRY_ON).split(",")):
        if token.isdigit() and int(token) in HTTP_STATUS_CODES:
            codes.append(int(token))
        elif token and token not in conditions:
            conditions.append(token)
    if not retry_on:
        codes = [503]
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    policy = rc_pb2.RetryPolicy(
        retry_on=",".join(conditions),
        num_retries=wrappers_pb2.UInt32Value(value=attempts),
        retriable_status_codes=codes,
        host_selection_retry_max_attempts=5,
    )
    if ignore_previous_hosts:
        policy.retry_host_predicate.append(
            rc_pb2.RetryPolicy.RetryHostPredicate(
                name=PREVIOUS_HOSTS_PREDICATE,
                typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate()),
            )
        )
    per_try = duration_of(per_try_timeout)
    if per_try is not None:
        policy.per_try_timeout.CopyFrom(per_try)
    if remote_localities:  # as Istio: retries prefer other priorities (localities)
        policy.retry_priority.name = PREVIOUS_PRIORITIES
        policy.retry_priority.typed_config.CopyFrom(
            pack(previous_priorities_config_pb2.PreviousPrioritiesConfig(update_frequency=2))
        )
    base_interval = duration_of(backoff)
    if base_interval is not None:
        policy.retry_back_off.base_interval.CopyFrom(base_interval)
    return policy


@functools.cache
def _default_retry_policy(consistent_hash: bool = False) -> rc_pb2.RetryPolicy:
    """Built once: protobuf constructors copy it, so the shared message is never mutated. As
    Istio: with consistent hashing, retries do not move away from the hashed host."""
    return retry_policy(ignore_previous_hosts=not consistent_hash)


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


def default_route(cluster: str, hash_policy: list[rc_pb2.RouteAction.HashPolicy]) -> rc_pb2.Route:
    """Istio's `default` route: everything to one cluster, retries on, no timeout."""
    action = rc_pb2.RouteAction(
        cluster=cluster, retry_policy=_default_retry_policy(consistent_hash=bool(hash_policy))
    )
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
    hashed = any(hash_policies(ctx.clusters[t.cluster].policy.load_balancer) for t in targets)
    retries = http.retries
    if retries is None:
        action.retry_policy.CopyFrom(_default_retry_policy(consistent_hash=hashed))
    elif retries.attempts and retries.attempts > 0:
        ignore = retries.retry_ignore_previous_hosts
        action.retry_policy.CopyFrom(
            retry_policy(
                attempts=retries.attempts,
                retry_on=retries.retry_on,
                per_try_timeout=retries.per_try_timeout,
                ignore_previous_hosts=not hashed if ignore is None else bool(ignore),
                backoff=retries.backoff,
                remote_localities=bool(retries.retry_remote_localities),
            )
        )
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
