"""What the namespaces of one view share of their `http_proxy` route parts, built once per push
context for the first of them (`http_proxy_part.vhds_built`).

A namespace's view (`view_key`) is what a slot's virtual host (`virtual_hosts.slot_unit`) reads
of the namespace besides the slot itself, following Istio's visibility:
- the VirtualService that applies to each host: the same for namespaces that see the same
  VirtualServices not exported everywhere (`exportTo` `.`, named namespaces, `~`, and the mesh's
  `defaultVirtualServiceExportTo`: `PushContext.virtual_service_view`);
- the cluster specs, one object for the namespaces whose DestinationRules (the proxy's
  namespace, then the service's, then the root namespace's) and visible services resolve alike
  (`outbound.outbound_block`: a namespace-local rule for a foreign host gives the namespace its
  own);
- the proxy's labels, and its namespace, when some VirtualService matches on them;
- a Sidecar, or services not exported everywhere, give the namespace a push context of its own
  (`sidecar_scope.scoped_push`), whose memo holds its own views.
The slots of two namespaces differ only by their own services' short names (`slots.http_slots`
gives every other slot as the same object), so the second namespace of a view takes the first
one's virtual host for every slot that is the same object (`slot_vhosts`), a copy of it with
the slot's domains for its own services' and the first namespace's (`_renamed`), and its domain
index is the first one's with those positions changed (`derived_index`). The result is what
looking every unit up gives (`tests/translate/test_route_view.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc_pb2

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.carry import carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.slots import Slot
from pilotfish.translate.vhds_part import DomainIndex, OnDemandRoutePart
from pilotfish.translate.virtual_hosts import finished, slot_unit

Finish = Callable[[rc_pb2.VirtualHost], rc_pb2.VirtualHost]


@dataclass(eq=False)
class View:
    """The slots of a view's first namespace built in a push context, their virtual hosts (as
    `finished`) and diagnostics by position, the part made of them and each host's slots."""

    specs: Mapping[str, OutboundClusterSpec]
    slots: tuple[Slot, ...]
    vhosts: tuple[rc_pb2.VirtualHost, ...]
    notes: tuple[tuple[Diagnostic, ...], ...]
    part: OnDemandRoutePart | None = None
    by_host: dict[str, tuple[int, ...]] | None = None


def view_key(proxy: Proxy, push: PushContext, specs: Mapping[str, OutboundClusterSpec]) -> Hashable:
    """The view of `proxy`'s namespace in `push` (its scoped push context), `specs` its route
    specs (see the module docstring)."""
    labels_matter, namespace_matters = push.source_matches()
    return (
        "pilotfish.translate.route_view",
        id(specs),
        push.virtual_service_view(proxy.namespace),
        proxy.labels if labels_matter else (),
        proxy.namespace if namespace_matters else "",
    )


def slot_vhosts(
    proxy: Proxy,
    push: PushContext,
    slots: tuple[Slot, ...],
    specs: Mapping[str, OutboundClusterSpec],
    finish: Finish,
) -> tuple[list[rc_pb2.VirtualHost], list[tuple[Diagnostic, ...]], View, bool]:
    """The slots' virtual hosts (`finished`) and diagnostics, in order, the view's first
    namespace's `View` (this one's if it is the first) and whether it is the first. A slot
    that is the same object as the first namespace's at its position has its virtual host
    (the same unit key: the same slot, VirtualService, specs, labels and namespace flag), one
    of the same service port with other domains a copy of it with its own (`_renamed`); the
    others are looked up (`slot_unit`). Inside a unit being built everything is looked
    up, so the unit records what they read."""
    key = view_key(proxy, push, specs)
    view = push.memo.get(key)
    usable = (
        isinstance(view, View)
        and view.specs is specs
        and len(view.slots) == len(slots)
        and not carry_of(push).building
    )
    if usable and isinstance(view, View):
        vhosts, notes = list(view.vhosts), list(view.notes)
        pairs = enumerate(zip(view.slots, slots, strict=True))
        for at in [at for at, (a, b) in pairs if a is not b]:
            was, slot = view.slots[at], slots[at]
            if was.service is slot.service and was.port == slot.port:  # only the domains differ
                vhosts[at] = _renamed(push, view.vhosts[at], slot)  # (a namespace's own service)
            else:
                vhosts[at], notes[at] = _looked_up(proxy, push, slot, specs, finish)
        return vhosts, notes, view, False
    vhosts, notes = [], []
    for slot in slots:
        vhost, note = _looked_up(proxy, push, slot, specs, finish)
        vhosts.append(vhost)
        notes.append(note)
    first = View(specs, slots, tuple(vhosts), tuple(notes))
    if not isinstance(view, View):
        push.memo[key] = first
    return vhosts, notes, first, True


def _looked_up(
    proxy: Proxy,
    push: PushContext,
    slot: Slot,
    specs: Mapping[str, OutboundClusterSpec],
    finish: Finish,
) -> tuple[rc_pb2.VirtualHost, tuple[Diagnostic, ...]]:
    unit = slot_unit(proxy, push, slot, specs)
    return finished(push, unit, finish), tuple(unit.diagnostics)


def _renamed(push: PushContext, vhost: rc_pb2.VirtualHost, slot: Slot) -> rc_pb2.VirtualHost:
    """`vhost` (a view's first namespace's, for the same service port) with `slot`'s domains:
    what `slot_unit` and `finish` make of `slot`, whose routes read no domain (neither does
    `finish`: `observability.outbound_vhost` reads the routes). A lasting `Carry` unit, kept
    while `vhost` is the same object."""

    def build() -> rc_pb2.VirtualHost:
        found = rc_pb2.VirtualHost()
        found.CopyFrom(vhost)
        del found.domains[:]
        found.domains.extend(slot.domains)
        return found

    key = ("pilotfish.translate.route_view.renamed", id(vhost), slot.domains)
    return carry_of(push).unit(push, key, build, keep=vhost, lasting=True)


def derived_index(
    view: View, vhosts: list[rc_pb2.VirtualHost], slots: int, tidy: Mapping[str, frozenset[str]]
) -> DomainIndex | None:
    """The domain index of `vhosts` (the first `slots` of them slots') from the view's first
    part's, when that is what `DomainIndex.of_domains` gives: the same tail domains, and the
    virtual hosts that differ (both sides) have exact domains only, none tidied, none a tail
    domain (then each of their domains is theirs alone: slots claim theirs); else None."""
    base = view.part
    if base is None or len(base.vhosts) != len(vhosts):
        return None
    tails = (base.vhosts[slots:], vhosts[slots:])
    if any(list(a.domains) != list(b.domains) for a, b in zip(*tails, strict=True)):
        return None
    tail = {d.lower() for v in tails[1] for d in v.domains}
    changed = [at for at in range(slots) if base.vhosts[at] is not vhosts[at]]
    exact = dict(base.index.exact)
    for at in changed:
        for vhost in (base.vhosts[at], vhosts[at]):
            domains = [d.lower() for d in vhost.domains]
            if vhost.name in tidy or any("*" in d or d in tail for d in domains):
                return None
        for domain in base.vhosts[at].domains:
            if exact.get(domain.lower()) == at:
                del exact[domain.lower()]
    for at in changed:
        exact.update(dict.fromkeys((d.lower() for d in vhosts[at].domains), at))
    index = base.index
    return DomainIndex(exact, index.suffixes, index.prefixes, index.default)


def by_host(view: View, slots: tuple[Slot, ...]) -> dict[str, tuple[int, ...]] | None:
    """Each host's slots (by index) as the view's first namespace has them, when the slots have
    the same services at the same positions (`derived_routes.Recipe.by_host`); else None."""
    if view.by_host is None or len(view.slots) != len(slots):
        return None
    same = all(a is b or a.service is b.service for a, b in zip(view.slots, slots, strict=True))
    return view.by_host if same else None


__all__ = ["View", "by_host", "derived_index", "slot_vhosts", "view_key"]
