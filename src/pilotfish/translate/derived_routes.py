"""A namespace's `http_proxy` route configuration derived from the last one built, after changes
of VirtualServices and of the outbound traffic policy only: the virtual hosts of the hosts
those VirtualServices name are built again (and the tail, with the catch-all, when the policy
changed), every other one is copied.

Building it whole costs a lookup, a unit and a copy per service port (~20 ms per namespace at
1,000 services) for a change that moves one or two (or only the catch-all). Each configuration
built or derived is kept as a `Built` record with what it was made of (its config objects,
services, mesh config, source-match flags and cluster specs) in its push context and as the
latest of its key in the `Carry` (so a later push context finds it however many push contexts
came between that did not build it: a targeted change builds only its holders' namespaces).
The derivation is exact whichever push context the record came from (older or newer: the
difference of two object sets is symmetric):
- it applies only when the record's services and source-match flags are equal, its mesh
  config is equal but maybe for the outbound traffic policy, the namespace's cluster specs
  hold the very same specs (no DestinationRule read differs), and every object that differs
  between the record's config objects and the push context's, both versions, is a
  VirtualService with HTTP routes and hosts naming a service (`affected.virtual_service_hosts`)
  — so no changed object is a delegate, which has no hosts;
- then a slot (`slots.Slot`) whose service is none of those hosts has the same
  VirtualService (no changed version's hosts cover it), domains, cluster specs and labels: its
  virtual host, and its diagnostics, are what they were. The slots of those hosts are built
  as a full build builds them (`virtual_hosts.slot_unit`), and the tail (CONNECT virtual
  hosts, whose routes a changed VirtualService may shadow, the pod's own, the catch-all, the
  only virtual host that reads the policy) is built again whole when it has CONNECT ones or
  the policy changed; ServiceEntry hosts' domains are tidied again (idempotent); a part
  holding what its record's holds is that one. `tests/controlplane/test_incremental.py`,
`test_derived_routes.py` and `bench/scope_soak.py` compare the result with translation from
scratch. Captured pods' configurations are not derived.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2

from pilotfish.config.kinds import DESTINATION_RULE
from pilotfish.config.objects import AnyConfig, Diagnostic
from pilotfish.model.mesh import MeshConfig
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service
from pilotfish.translate import names, on_demand_routes
from pilotfish.translate.affected import changed_configs, virtual_service_hosts
from pilotfish.translate.carry import Carry, carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.outbound import outbound_block
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.service_entries import tidy_http_proxy_domains
from pilotfish.translate.slots import Slot, http_slots
from pilotfish.translate.vhds_part import OnDemandRoutePart
from pilotfish.translate.virtual_hosts import (
    VhostUnit,
    catch_all_vhost,
    finished,
    http_proxy_route_config,
    slot_unit,
    tail_vhosts,
)
from pilotfish.type_urls import ROUTE

Finish = Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost]


@dataclass(frozen=True)
class Recipe:
    """How a built configuration was made: its slots, their diagnostics, each host's slots."""

    slots: tuple[Slot, ...]
    claimed: frozenset[str]
    notes: tuple[tuple[Diagnostic, ...], ...]
    by_host: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class Built:
    """A configuration as built or derived, with what it was made of (see the module
    docstring). `kept`: what on-demand routes made of it (`on_demand_routes.keep_in`)."""

    resources: ProxyResources
    recipe: Recipe
    configs: tuple[AnyConfig, ...]
    services: tuple[Service, ...]
    mesh: MeshConfig
    source_matches: tuple[bool, bool]
    specs: Mapping[str, OutboundClusterSpec]
    kept: dict[str, object] = field(default_factory=dict)


def built(
    proxy: Proxy,
    push: PushContext,
    specs: Mapping[str, OutboundClusterSpec],
    finish: Finish,
) -> tuple[route_pb2.RouteConfiguration, list[Diagnostic], Recipe]:
    """`virtual_hosts.http_proxy_route_config`, its diagnostics and its recipe (for `keep`)."""
    diagnostics: list[Diagnostic] = []
    notes: list[tuple[Diagnostic, ...]] = []
    config = http_proxy_route_config(proxy, push, specs, diagnostics, finish, notes)
    return config, diagnostics, recipe_of(push, proxy.namespace, notes)


def recipe_of(
    push: PushContext,
    namespace: str,
    notes: list[tuple[Diagnostic, ...]],
    hosts: dict[str, tuple[int, ...]] | None = None,
) -> Recipe:
    """The recipe of a part built of `namespace`'s slots in `push`, with each slot's notes
    (`hosts`: its `by_host`, when the caller has it: `route_view.by_host`)."""
    slots, claimed = http_slots(push, namespace)
    if hosts is None:
        by_host: dict[str, list[int]] = {}
        for index, slot in enumerate(slots):
            by_host.setdefault(slot.service.hostname, []).append(index)
        hosts = {host: tuple(found) for host, found in by_host.items()}
    return Recipe(slots, claimed, tuple(notes), hosts)


def record_key(key: Hashable) -> Hashable:
    return ("pilotfish.translate.derived_routes.built", key)


def keep(
    proxy: Proxy, push: PushContext, key: Hashable, resources: ProxyResources, recipe: Recipe
) -> None:
    """Keep the configuration `resources` of `key`, made in `push` by `recipe`, for later push
    contexts to derive from."""
    record = Built(
        resources,
        recipe,
        push.configs,
        push.registry.services,
        push.mesh,
        push.source_matches(),
        route_specs(push, proxy.namespace, outbound_block(proxy.namespace, push).specs),
    )
    config = resources[ROUTE].get(names.HTTP_PROXY_ROUTE_CONFIG)
    if isinstance(config, route_pb2.RouteConfiguration) and not isinstance(
        resources, OnDemandRoutePart
    ):
        on_demand_routes.keep_in(config, push, record.kept)
    push.memo[record_key(key)] = record
    if isinstance(push.carry, Carry):
        push.carry.remember(record_key(key), record)


def _record(push: PushContext, key: Hashable, previous: PushContext | None) -> Built | None:
    """The newest configuration of `key` kept: the `Carry`'s, or `previous`'s (a scoped push
    context has no `Carry` of its own across push contexts)."""
    found = push.carry.latest(record_key(key)) if isinstance(push.carry, Carry) else None
    if found is None and previous is not None:
        found = previous.memo.get(record_key(key))
    return found if isinstance(found, Built) else None


def changed_hosts(push: PushContext, record: Built) -> tuple[frozenset[str], bool] | None:
    """The service hosts whose virtual hosts may differ between `record` and `push`, and
    whether the outbound traffic policy differs, when only VirtualServices with hosts and the
    policy differ (see the module docstring); else None. Memoised per push context and
    record inputs."""
    key = (
        "pilotfish.translate.derived_routes.hosts",
        id(record.configs),
        id(record.services),
        id(record.mesh),
        record.source_matches,
    )
    found = push.memo.get(key)
    inputs = (record.configs, record.services, record.mesh)
    if found is not None and all(a is b for a, b in zip(found[:3], inputs, strict=True)):
        known: tuple[frozenset[str], bool] | None = found[3]
        return known
    result = None
    policy = record.mesh.outbound_traffic_policy
    mesh_before = dataclasses.replace(push.mesh, outbound_traffic_policy=policy)
    if (
        (push.mesh == record.mesh or mesh_before == record.mesh)
        and push.source_matches() == record.source_matches
        and (push.registry.services is record.services or push.registry.services == record.services)
    ):
        changed = changed_configs(record.configs, push.configs)  # a DestinationRule reaches
        changed = [c for c in changed if c.meta.kind != DESTINATION_RULE]  # routes through the
        if all(getattr(c.spec, "hosts", None) for c in changed):  # specs alone: `route_specs`
            hosts = virtual_service_hosts(changed, push, push) if changed else frozenset()
            if hosts is not None:
                result = (hosts, push.mesh.outbound_traffic_policy != policy)
    push.memo[key] = (record.configs, record.services, record.mesh, result)
    return result


def route_specs(
    push: PushContext, namespace: str, specs: Mapping[str, OutboundClusterSpec]
) -> Mapping[str, OutboundClusterSpec]:
    """`specs` (`namespace`'s cluster specs) as virtual hosts read them: which clusters there
    are, in order, and each one's load balancer (a consistent hash's route hash policy,
    `traffic_policy.hash_policies`), nothing else of a spec (connection pool, outlier
    detection, TLS: its cluster's). The mapping an earlier push context used for `namespace`
    when it reads the same, else `specs`: virtual host units keyed on its identity
    (`virtual_hosts.slot_unit`) and parts derived while it is the same are kept across a
    DestinationRule change that changes only clusters. Memoised per push context."""
    carry = carry_of(push)
    name = ("pilotfish.translate.derived_routes.route_specs", namespace)
    key = ("pilotfish.translate.derived_routes.route_specs", id(specs))
    found: tuple[Mapping[str, OutboundClusterSpec], Mapping[str, OutboundClusterSpec]] | None
    found = push.memo.get(key)
    if found is None or found[0] is not specs:
        last = carry.latest(name)
        view = specs
        if isinstance(last, tuple) and (last[0] is specs or _reads_same(last[1], specs)):
            view = last[1]
        found = push.memo[key] = (specs, view)
    carry.remember(name, found)
    return found[1]


def _reads_same(
    before: Mapping[str, OutboundClusterSpec], now: Mapping[str, OutboundClusterSpec]
) -> bool:
    if len(before) != len(now) or any(a != b for a, b in zip(before, now, strict=True)):
        return False
    for name, spec in now.items():
        old = before[name]
        if old is not spec and old.policy.load_balancer != spec.policy.load_balancer:
            return False
    return True


def _same_specs(
    before: Mapping[str, OutboundClusterSpec], now: Mapping[str, OutboundClusterSpec]
) -> bool:
    return before is now or (
        len(before) == len(now) and all(before.get(k) is v for k, v in now.items())
    )


def _prepared(
    proxy: Proxy, push: PushContext, key: Hashable, previous: PushContext | None
) -> tuple[Built, Mapping[str, OutboundClusterSpec], frozenset[str], bool] | None:
    """The record to derive part `key` of `push` from, the namespace's cluster specs, the
    hosts whose virtual hosts to build again and whether the policy changed; None when it
    cannot be derived (see the module docstring)."""
    record = None if proxy.captured else _record(push, key, previous)
    if record is None:
        return None
    specs = route_specs(push, proxy.namespace, outbound_block(proxy.namespace, push).specs)
    change = changed_hosts(push, record) if _same_specs(record.specs, specs) else None
    return None if change is None else (record, specs, *change)


def _rebuilt(
    proxy: Proxy,
    push: PushContext,
    recipe: Recipe,
    hosts: frozenset[str],
    specs: Mapping[str, OutboundClusterSpec],
) -> list[tuple[int, VhostUnit]]:
    """The slots of `hosts` (by index) and their units, built as a full build builds them."""
    found: list[tuple[int, VhostUnit]] = []
    if not hosts:
        return found
    by_host = push.memo.get("pilotfish.translate.services_by_host") or {
        s.hostname: s for s in push.services
    }
    for index in sorted(i for host in hosts for i in recipe.by_host.get(host, ())):
        slot = recipe.slots[index]
        slot = Slot(by_host[slot.service.hostname], slot.port, slot.domains)
        found.append((index, slot_unit(proxy, push, slot, specs)))
    return found


def derived(
    proxy: Proxy,
    push: PushContext,
    key: Hashable,
    finish: Finish,
    previous: PushContext | None = None,
) -> ProxyResources | None:
    """The whole `http_proxy` part `key` of `push` from the newest one kept (`previous`: the
    push context before, whose may be the newest), or None when it cannot be derived (see the
    module docstring)."""
    prepared = _prepared(proxy, push, key, previous)
    if prepared is None:
        return None
    record, specs, hosts, policy_changed = prepared
    old = record.resources[ROUTE].get(names.HTTP_PROXY_ROUTE_CONFIG)
    if isinstance(record.resources, OnDemandRoutePart) or not isinstance(
        old, route_pb2.RouteConfiguration
    ):
        return None
    recipe = record.recipe
    config = route_pb2.RouteConfiguration()
    config.CopyFrom(old)
    notes = list(recipe.notes)
    for index, unit in _rebuilt(proxy, push, recipe, hosts, specs):
        notes[index] = unit.diagnostics
        vhost = config.virtual_hosts[index]
        vhost.CopyFrom(finished(push, unit, finish))
        vhost.include_request_attempt_count = True  # `with_istio_route_defaults`
    diagnostics = [d for found in notes for d in found]
    if len(old.virtual_hosts) > len(recipe.slots) + 2:  # CONNECT ones (else: the pod's own and
        del config.virtual_hosts[len(recipe.slots) :]  # the catch-all, which reads the policy)
        tail = tail_vhosts(proxy, push, specs, recipe.claimed, diagnostics, finish)
        for vhost in tail:
            added = config.virtual_hosts.add()
            added.CopyFrom(vhost)
            added.include_request_attempt_count = True
    elif policy_changed:
        catch_all = catch_all_vhost(push.mesh.outbound_traffic_policy)
        config.virtual_hosts[-1].CopyFrom(finish(catch_all))
        config.virtual_hosts[-1].include_request_attempt_count = True
    config = tidy_http_proxy_domains(config, push)
    if _same_domains(old, config, len(recipe.slots)):
        on_demand_routes.carry_index(old, record.kept, config, push)
    new_recipe = Recipe(recipe.slots, recipe.claimed, tuple(notes), recipe.by_host)
    resources = ProxyResources.build([config], diagnostics)
    keep(proxy, push, key, resources, new_recipe)
    return resources


def derived_part(
    proxy: Proxy,
    push: PushContext,
    key: Hashable,
    finish: Finish,
    tidy: Mapping[str, frozenset[str]],
    previous: PushContext | None = None,
) -> OnDemandRoutePart | None:
    """`derived` for a part built without its whole configuration (`vhds_built`): the virtual
    hosts of the changed hosts, and the tail if it has CONNECT ones or the policy changed, are
    taken anew; its index serves while every position keeps its domains (`tidy`: `push`'s)."""
    prepared = _prepared(proxy, push, key, previous)
    if prepared is None or not isinstance(prepared[0].resources, OnDemandRoutePart):
        return None
    record, specs, hosts, policy_changed = prepared
    old = record.resources
    assert isinstance(old, OnDemandRoutePart)
    recipe = record.recipe
    vhosts = list(old.vhosts)
    notes = list(recipe.notes)
    for index, unit in (rebuilt := _rebuilt(proxy, push, recipe, hosts, specs)):
        notes[index] = unit.diagnostics
        vhosts[index] = finished(push, unit, finish)
    diagnostics = [d for found in notes for d in found]
    slots = len(recipe.slots)
    if len(old.vhosts) > slots + 2:  # CONNECT ones (else: the pod's own and the catch-all)
        vhosts[slots:] = tail_vhosts(proxy, push, specs, recipe.claimed, diagnostics, finish)
    elif policy_changed:
        vhosts[-1] = finish(catch_all_vhost(push.mesh.outbound_traffic_policy))
    if rebuilt:  # else its notes (one per slot) are the record's
        recipe = Recipe(recipe.slots, recipe.claimed, tuple(notes), recipe.by_host)
    if _unchanged(old, vhosts, tidy, diagnostics):
        keep(proxy, push, key, old, recipe)  # the same part: its holders' pieces stand
        return old
    tails = (old.vhosts[slots:], vhosts[slots:])
    same = len(tails[0]) == len(tails[1]) and all(
        list(a.domains) == list(b.domains) for a, b in zip(*tails, strict=True)
    )
    up_front = old[ROUTE][names.HTTP_PROXY_ROUTE_CONFIG]
    assert isinstance(up_front, route_pb2.RouteConfiguration)
    known = old.index if same else None  # the pod's own answer reads nothing that changed
    part = OnDemandRoutePart(
        up_front, tuple(vhosts), tidy, old.always, diagnostics, known, slots=slots
    )
    keep(proxy, push, key, part, recipe)
    return part


def _unchanged(
    old: OnDemandRoutePart,
    vhosts: list[rc_pb2.VirtualHost],
    tidy: Mapping[str, frozenset[str]],
    diagnostics: list[Diagnostic],
) -> bool:
    """Whether a part derived from `old` holds its very virtual hosts (a change of every pool
    rebuilds none), tidied alike, with its diagnostics: then it is `old` (what its holders
    were sent of it stands: `on_demand_routes.published_pieces`, `SnapshotAssembly`)."""
    return (
        len(vhosts) == len(old.vhosts)
        and all(a is b for a, b in zip(vhosts, old.vhosts, strict=True))
        and (tidy is old.tidy or tidy == old.tidy)
        and list(old.diagnostics) == diagnostics
    )


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
