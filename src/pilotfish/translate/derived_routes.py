"""A namespace's `http_proxy` route configuration derived from the previous push context's,
after a change of VirtualServices only: the virtual hosts of the hosts they name are built
again, every other one is copied.

Building it whole costs a lookup, a unit and a copy per service port (1,000 virtual hosts at
the scale benchmark's size, ~20 ms per namespace) for a change that moves one or two. The
derivation is exact, not a guess:
- it applies only when the previous push context built this configuration (same key), the
  registry's services, the mesh config and the source-match flags are equal, the namespace's
  cluster specs are the very same object (no DestinationRule read differs), and every changed
  object, both versions, is a VirtualService with HTTP routes and hosts naming a service
  (`affected.virtual_service_hosts`) — so no changed object is a delegate, which has no hosts;
- then a slot (`virtual_hosts.Slot`) whose service is none of those hosts has the same
  VirtualService (no changed version's hosts cover it), domains, cluster specs and labels: its
  virtual host, and its diagnostics, are what they were. The slots of those hosts are built
  as a full build builds them (`virtual_hosts.slot_unit`), and the tail (CONNECT virtual
  hosts, whose routes a changed VirtualService may shadow, the pod's own, the catch-all) is
  built again whole when it has CONNECT ones (the other two read only the mesh config);
  ServiceEntry hosts' domains are tidied again (idempotent).
`tests/controlplane/test_incremental.py` and `bench/scope_soak.py` compare the result with
translation from scratch. Captured pods' per-port configurations are not derived.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names, on_demand_routes
from pilotfish.translate.affected import changed_configs, virtual_service_hosts
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.outbound import outbound_block
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.service_entries import tidy_http_proxy_domains
from pilotfish.translate.virtual_hosts import (
    Slot,
    finished,
    http_proxy_route_config,
    http_slots,
    slot_unit,
    tail_vhosts,
)
from pilotfish.type_urls import ROUTE

Finish = Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost]


@dataclass(frozen=True)
class Recipe:
    """How a built configuration was made: its slots, each slot's diagnostics, and the slots
    of each service host (by index)."""

    slots: tuple[Slot, ...]
    claimed: frozenset[str]
    notes: tuple[tuple[Diagnostic, ...], ...]
    by_host: dict[str, tuple[int, ...]]


def built(
    proxy: Proxy,
    push: PushContext,
    key: Hashable,
    specs: Mapping[str, OutboundClusterSpec],
    finish: Finish,
) -> tuple[route_pb2.RouteConfiguration, list[Diagnostic]]:
    """`virtual_hosts.http_proxy_route_config` and its diagnostics, its recipe kept as `key`'s
    in `push` (for the next push context to derive from)."""
    diagnostics: list[Diagnostic] = []
    notes: list[tuple[Diagnostic, ...]] = []
    config = http_proxy_route_config(proxy, push, specs, diagnostics, finish, notes)
    remember(push, key, proxy.namespace, notes)
    return config, diagnostics


def recipe_key(key: Hashable) -> Hashable:
    return ("pilotfish.translate.derived_routes.recipe", key)


def remember(
    push: PushContext, key: Hashable, namespace: str, notes: list[tuple[Diagnostic, ...]]
) -> None:
    """Keep the recipe of the configuration just built under `key` in `push`."""
    slots, claimed = http_slots(push, namespace)
    by_host: dict[str, list[int]] = {}
    for index, slot in enumerate(slots):
        by_host.setdefault(slot.service.hostname, []).append(index)
    frozen = {host: tuple(found) for host, found in by_host.items()}
    push.memo[recipe_key(key)] = Recipe(slots, claimed, tuple(notes), frozen)


def changed_hosts(push: PushContext, previous: PushContext) -> frozenset[str] | None:
    """The service hosts whose virtual hosts a change from `previous` to `push` may move, when
    it changed only VirtualServices with hosts (see the module docstring); else None.
    Memoised per pair (`previous` held weakly: a push context must not keep older ones)."""
    key = ("pilotfish.translate.derived_routes.hosts", id(previous))
    found: tuple[weakref.ref[PushContext], frozenset[str] | None] | None = push.memo.get(key)
    if found is not None and found[0]() is previous:
        return found[1]
    hosts = None
    if (
        push.registry.services == previous.registry.services
        and push.mesh == previous.mesh
        and push.source_matches() == previous.source_matches()
    ):
        changed = changed_configs(previous.configs, push.configs)
        if changed and all(getattr(c.spec, "hosts", None) for c in changed):
            hosts = virtual_service_hosts(changed, push, previous)
    push.memo[key] = (weakref.ref(previous), hosts)
    return hosts


def derived(
    proxy: Proxy,
    push: PushContext,
    previous: PushContext,
    key: Hashable,
    finish: Finish,
) -> ProxyResources | None:
    """The `http_proxy` part `key` of `push` from `previous`'s, or None when it cannot be
    derived (see the module docstring)."""
    before = previous.memo.get(key)
    recipe = previous.memo.get(recipe_key(key))
    specs = outbound_block(proxy.namespace, push).specs
    previous_specs = outbound_block(proxy.namespace, previous).specs
    if proxy.captured or before is None or recipe is None or specs is not previous_specs:
        return None
    assert isinstance(before, ProxyResources) and isinstance(recipe, Recipe)
    hosts = changed_hosts(push, previous)
    old = before[ROUTE].get(names.HTTP_PROXY_ROUTE_CONFIG)
    if hosts is None or not isinstance(old, route_pb2.RouteConfiguration):
        return None
    by_host = push.memo.get("pilotfish.translate.services_by_host") or {
        s.hostname: s for s in push.services
    }
    config = route_pb2.RouteConfiguration()
    config.CopyFrom(old)
    notes = list(recipe.notes)
    for index in sorted(i for host in hosts for i in recipe.by_host.get(host, ())):
        slot = recipe.slots[index]
        slot = Slot(by_host[slot.service.hostname], slot.port, slot.domains)
        unit = slot_unit(proxy, push, slot, specs)
        notes[index] = unit.diagnostics
        vhost = config.virtual_hosts[index]
        vhost.CopyFrom(finished(push, unit, finish))
        vhost.include_request_attempt_count = True  # `with_istio_route_defaults`
    diagnostics = [d for found in notes for d in found]
    if len(old.virtual_hosts) > len(recipe.slots) + 2:  # CONNECT ones (else: the pod's own and
        del config.virtual_hosts[len(recipe.slots) :]  # the catch-all, as they were)
        tail = tail_vhosts(proxy, push, specs, recipe.claimed, diagnostics, finish)
        for vhost in tail:
            added = config.virtual_hosts.add()
            added.CopyFrom(vhost)
            added.include_request_attempt_count = True
    config = tidy_http_proxy_domains(config, push)
    if _same_domains(old, config, len(recipe.slots)):
        on_demand_routes.carry_index(old, previous, config, push)
    push.memo[recipe_key(key)] = Recipe(recipe.slots, recipe.claimed, tuple(notes), recipe.by_host)
    return ProxyResources.build([config], diagnostics)


def _same_domains(
    old: route_pb2.RouteConfiguration, new: route_pb2.RouteConfiguration, slots: int
) -> bool:
    """Whether the tail of `new` (past its `slots` slots, whose domains are the recipe's) has
    the domains of `old`'s, so an index of `old`'s domains by position serves `new`."""
    if len(old.virtual_hosts) != len(new.virtual_hosts):
        return False
    return all(
        list(old.virtual_hosts[i].domains) == list(new.virtual_hosts[i].domains)
        for i in range(slots, len(new.virtual_hosts))
    )
