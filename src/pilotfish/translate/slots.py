"""The slots of a sidecar's `http_proxy` route configuration: one per HTTP-family service port,
in the push context's service order, each with the domains an app may put in an absolute-form
request for it (`service_domains`) that no slot before it claimed (`http_slots`).

A namespace's slots differ from every other namespace's only by the short forms of its own
services (`name:port`, and `name` on port 80: Istio's virtual host domains for a service in the
proxy's namespace). So the slots of a namespace "foreign" to every service are computed once per
push context, and a namespace's are those with its own services' slots given their short forms
(`_own_slots`): the very `Slot` objects for every other service, which is what lets namespaces
that see the same routes share their virtual hosts' look-ups (`http_proxy_part.vhds_built`).
When a short form is a domain of some other slot (or a service's slot exists only with its short
forms) the namespace's slots are computed whole, as before. Pure; memoised per push context.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service, ServicePort


def service_domains(service: Service, port: ServicePort, proxy_namespace: str | None) -> list[str]:
    """The domains of `service`'s virtual host on `port` for a proxy of `proxy_namespace` (None:
    of a namespace that is not the service's)."""
    fqdn, name, ns = service.hostname, service.name, service.namespace
    short = [f"{name}.{ns}.svc", f"{name}.{ns}"]
    if ns == proxy_namespace:
        short.append(name)
    http_ports = [p for p in service.ports if p.protocol.is_http]
    domains = [fqdn] if port.port == 80 or len(http_ports) == 1 else []
    domains.append(f"{fqdn}:{port.port}")
    for form in short:
        domains.append(f"{form}:{port.port}")
        if port.port == 80:
            domains.append(form)
    return domains


@dataclass(frozen=True)
class Slot:
    """An HTTP-family service port's place in `http_proxy`, with the domains the services
    before it left unclaimed (the same in every push context with the same services)."""

    service: Service
    port: ServicePort
    domains: tuple[str, ...]


Slots = tuple[tuple[Slot, ...], frozenset[str]]


def http_slots(push: PushContext, namespace: str | None) -> Slots:
    """The slots of a namespace's `http_proxy` in order, and every domain they claim (None:
    of a namespace foreign to every service), memoised per push context."""
    key = ("pilotfish.translate.http_slots", namespace)
    found: Slots | None = push.memo.get(key)
    if found is None:
        own = None if namespace is None else _own_slots(push, namespace)
        found = push.memo[key] = own or _all_slots(push, namespace)
    return found


def _all_slots(push: PushContext, namespace: str | None) -> Slots:
    slots: list[Slot] = []
    claimed: set[str] = set()
    for service in push.services:
        for port in (p for p in service.ports if p.protocol.is_http):
            domains = _domains(push, service, port, namespace)
            if claimed.intersection(domains):
                domains = tuple(d for d in domains if d not in claimed)
            if domains:
                claimed.update(domains)
                slots.append(Slot(service, port, domains))
    return tuple(slots), frozenset(claimed)


def _own_slots(push: PushContext, namespace: str) -> Slots | None:
    """`namespace`'s slots as the foreign ones with its own services' short forms added, when
    that is what `_all_slots` gives: no short form is a domain any slot claims without them
    (then no other slot loses or gains a domain) and every own service port with a short form
    has a slot without them (then every slot keeps its position); else None."""
    services = push.services_by_namespace.get(namespace, ())
    foreign, claimed = http_slots(push, None)
    if not services:
        return foreign, claimed
    at = _positions(push, foreign)
    slots = list(foreign)
    added: set[str] = set()
    for service in services:
        for port in (p for p in service.ports if p.protocol.is_http):
            domains, foreign_domains = (_domains(push, service, port, n) for n in (namespace, None))
            short = set(domains).difference(foreign_domains)
            index = at.get((id(service), port.port))
            if domains == foreign_domains or (index is None and not short):
                continue  # (a short form that repeats a foreign one is repeated as it is)
            if index is None or not short.isdisjoint(claimed) or not short.isdisjoint(added):
                return None
            added.update(short)
            kept = set(slots[index].domains) | short
            slots[index] = Slot(service, port, tuple(d for d in domains if d in kept))
    return tuple(slots), claimed | added


def _positions(push: PushContext, slots: tuple[Slot, ...]) -> dict[tuple[int, int], int]:
    """Each slot's index by (id of its service, port), memoised per push context."""
    key = "pilotfish.translate.http_slots.positions"
    found: dict[tuple[int, int], int] | None = push.memo.get(key)
    if found is None:
        found = push.memo[key] = {(id(s.service), s.port.port): i for i, s in enumerate(slots)}
    return found


def _domains(
    push: PushContext, service: Service, port: ServicePort, namespace: str | None
) -> tuple[str, ...]:
    """`service_domains`, memoised per push context (the namespace counts only as the
    service's own or another)."""
    key = ("pilotfish.translate.domains", id(service), port.port, service.namespace == namespace)
    if key not in push.memo:
        push.memo[key] = tuple(service_domains(service, port, namespace))
    found: tuple[str, ...] = push.memo[key]
    return found


__all__ = ["Slot", "Slots", "http_slots", "service_domains"]
