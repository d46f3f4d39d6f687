"""A sidecar's `http_proxy` route part, shared by the sidecars of a namespace and Sidecar
scope: the whole configuration (`virtual_hosts.http_proxy_route_config`; a captured pod's
per-port configurations), or, for sidecars with on-demand virtual hosts, the part built
without it (`vhds_built`), which `whole_parts` turns back into the whole one for a config
dump. Either is derived from the newest one of its key kept when only VirtualServices and
the outbound traffic policy changed since (`derived_routes`).

`vhds_built` makes a `vhds_part.OnDemandRoutePart`: the virtual hosts of the whole
configuration as the units they are built from, in its order, and its diagnostics, from the
same inputs as a whole build (`http_slots`, `slot_unit`, `finished`, `tail_vhosts`), so what
a sidecar is sent of it (`on_demand_routes.published`) is what it would be sent of the whole
configuration (`tests/translate/test_vhds_source.py` compares the two, answer by answer,
byte for byte). A slot's unit is shared by every namespace whose slot has the same domains
(and by the next push contexts while its inputs are the same objects: `Carry`), and the
namespaces of one view (`route_view`: those that see the same VirtualServices, cluster specs
and scope) take the first one's virtual hosts and index by position, so a storm of on-demand
sidecars costs a look-up per slot and view, not per slot and namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from functools import partial

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import (
    captured,
    derived_routes,
    names,
    on_demand_routes,
    route_view,
    service_entries,
    sidecar_scope,
)
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.http_routes import with_istio_route_defaults
from pilotfish.translate.observability import outbound_routes, reused_outbound_vhost
from pilotfish.translate.outbound import outbound_block
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.slots import http_slots
from pilotfish.translate.vhds_part import UP_FRONT_VHOSTS, DomainIndex, OnDemandRoutePart, answer_of
from pilotfish.translate.virtual_hosts import tail_vhosts


def whole_parts(
    proxy: Proxy, push: PushContext, shared: tuple[ProxyResources, ...]
) -> tuple[ProxyResources, ...]:
    """`shared` with a route part built without its whole configuration (`vhds_built`)
    replaced by the whole one (what a config dump shows)."""
    scoped = sidecar_scope.scoped_push(proxy, push)
    return tuple(
        http_proxy_route(proxy, scoped) if isinstance(p, OnDemandRoutePart) else p for p in shared
    )


def http_proxy_route(
    proxy: Proxy, push: PushContext, previous: PushContext | None = None, vhds: bool = False
) -> ProxyResources:
    """The `http_proxy` route configuration (a captured pod: Istio's route configurations by
    port, `captured.port_route_configs`, from the same virtual hosts), telemetry included
    (`observability.outbound_routes`: nothing of the proxy itself, whose identity its listener
    sends), as a shared part: the same for the sidecars of a namespace and Sidecar scope (and
    their labels when some VirtualService matches `sourceLabels`), memoised per push context;
    never mutate it. Derived from the newest part of its key kept when it can be
    (`derived_routes.derived`, `derived_part`; the one of `previous`, the push context before,
    when only VirtualServices and DestinationRules changed since)."""
    labels = proxy.labels if push.source_label_matches() else ()
    key = ("pilotfish.translate.http_proxy_route", proxy.namespace, labels, proxy.captured, vhds)
    found: ProxyResources | None = push.memo.get(key)
    if found is not None:
        return found
    specs = derived_routes.route_specs(
        push, proxy.namespace, outbound_block(proxy.namespace, push).specs
    )
    finish = partial(reused_outbound_vhost, push)  # once per virtual host, not per copy
    if vhds:
        found = derived_routes.derived_part(proxy, push, key, finish, _tidied(push), previous)
        if found is None:
            found = vhds_built(proxy, push, specs, finish, key)
    else:
        found = derived_routes.derived(proxy, push, key, finish, previous)
    if found is None:
        config, diagnostics, recipe = derived_routes.built(proxy, push, specs, finish)
        configs = [service_entries.tidy_http_proxy_domains(config, push)]
        if proxy.captured:  # per-port configurations add catch-all virtual hosts of their own
            ports = captured.http_ports(specs)
            policy = push.mesh.outbound_traffic_policy
            configs = captured.port_route_configs(configs[0], ports, push.services, policy)
            configs = [outbound_routes(push, c) for c in configs]
        found = ProxyResources.build(configs, diagnostics)
        if not proxy.captured:
            derived_routes.keep(proxy, push, key, found, recipe)
    push.memo[key] = found
    return found


Finish = Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost]


def vhds_built(
    proxy: Proxy,
    push: PushContext,
    specs: Mapping[str, OutboundClusterSpec],
    finish: Finish,
    key: Hashable | None = None,
) -> OnDemandRoutePart:
    """The part a whole build (`derived_routes.built`, then `tidy_http_proxy_domains`) would
    make the configuration of, for `proxy`'s namespace in `push` (its scoped push context);
    kept as `key`'s with its recipe (`derived_routes.keep`, for later push contexts to derive
    from)."""
    slots, claimed = http_slots(push, proxy.namespace)
    vhosts, notes, view, first = route_view.slot_vhosts(proxy, push, slots, specs, finish)
    diagnostics = [d for found in notes for d in found]
    vhosts.extend(tail_vhosts(proxy, push, specs, claimed, diagnostics, finish))
    settings = route_pb2.RouteConfiguration(name=names.HTTP_PROXY_ROUTE_CONFIG)
    up_front = on_demand_routes.up_front(with_istio_route_defaults(settings))
    index = None if first else route_view.derived_index(view, vhosts, len(slots), _tidied(push))
    part = _part(push, up_front, vhosts, diagnostics, index, slots=len(slots))
    if key is not None:
        hosts = None if first else route_view.by_host(view, slots)
        recipe = derived_routes.recipe_of(push, proxy.namespace, notes, hosts)
        derived_routes.keep(proxy, push, key, part, recipe)
        if first:
            view.by_host = recipe.by_host
    if first:
        view.part = part
    return part


def _part(
    push: PushContext,
    up_front: route_pb2.RouteConfiguration,
    vhosts: list[rc_pb2.VirtualHost],
    diagnostics: list[Diagnostic],
    index: DomainIndex | None = None,
    slots: int | None = None,
) -> OnDemandRoutePart:
    tidy = _tidied(push)
    always: dict[str, rc_pb2.VirtualHost] = {}
    for vhost in vhosts:
        if vhost.name in UP_FRONT_VHOSTS:
            answer = answer_of(vhost, "", tidy.get(vhost.name))
            always[answer.name] = answer
    return OnDemandRoutePart(up_front, tuple(vhosts), tidy, always, diagnostics, index, slots)


def _tidied(push: PushContext) -> Mapping[str, frozenset[str]]:
    """The virtual hosts `service_entries.tidy_http_proxy_domains` tidies (by name), with the
    domains it keeps, memoised per push context."""
    key = "pilotfish.translate.http_proxy_part.tidy"
    found: Mapping[str, frozenset[str]] | None = push.memo.get(key)
    if found is None:
        found = push.memo[key] = {
            names.vhost(s.hostname, p.port): frozenset({s.hostname, f"{s.hostname}:{p.port}"})
            for s in push.services
            if s.from_service_entry
            for p in s.ports
        }
    return found


__all__ = ["http_proxy_route", "vhds_built", "whole_parts"]
