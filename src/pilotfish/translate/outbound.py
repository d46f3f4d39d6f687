"""Outbound clusters and endpoints, built once for every proxy that resolves them the same way.

`outbound_cluster_specs(namespace, push)` says which clusters a proxy of `namespace` gets: every
service port, times the subsets of the DestinationRule Istio picks for that namespace (and for
the rule selectors its labels satisfy: a push context of its own, `sidecar_scope.scoped_push`,
whose look-ups apply them; its block is the shared one but for the services they name). Almost
always the rule does not depend on the proxy's namespace (the service's own namespace or the root
namespace decides), so `outbound_block(namespace, push)` starts from ONE block shared by every
namespace and rebuilds only the services a namespace resolves differently (its own rules for
other namespaces' hosts, restrictive `exportTo`); with no such service a namespace's block IS
the shared one (same objects, serialised once).

Every piece is a `Carry` unit, so a new push context reuses what did not change: a service's
specs (keyed by the service and the rule object), a cluster (by its spec, the mesh settings and
the service accounts auto mTLS names), an endpoint assignment (by cluster name, subset labels,
the endpoints themselves and the mesh settings); config kinds they read (PeerAuthentication...)
are recorded by `Carry`. Pure.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from pilotfish.config.kinds import DESTINATION_RULE
from pilotfish.config.objects import DestinationRule, Diagnostic
from pilotfish.model.host_index import exported_to
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service, WorkloadInstance
from pilotfish.translate import mesh_tls, service_entries
from pilotfish.translate.carry import Carry, carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.endpoints import load_assignment
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.service_clusters import pooled_cluster, service_unit
from pilotfish.type_urls import CLUSTER, ENDPOINT

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, eq=False)
class OutboundBlock:
    """A namespace's outbound cluster specs (by name, sorted) and their resources."""

    specs: Mapping[str, OutboundClusterSpec]
    resources: ProxyResources
    notes: Mapping[str, tuple[Diagnostic, ...]]
    """Diagnostics by service hostname."""

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return tuple(d for notes in self.notes.values() for d in notes)

    @cached_property
    def forward_proxy(self) -> bool:
        """Whether some cluster sends through the dynamic forward proxy (ServiceEntry NONE)."""
        return any(service_entries.uses_forward_proxy(s) for s in self.specs.values())


def outbound_cluster_specs(
    namespace: str, push: PushContext, diagnostics: list[Diagnostic]
) -> dict[str, OutboundClusterSpec]:
    """Every outbound cluster for proxies in `namespace`, by name, in sorted order."""
    block = outbound_block(namespace, push)
    diagnostics.extend(block.diagnostics)
    return dict(block.specs)


def outbound_block(namespace: str, push: PushContext) -> OutboundBlock:
    key = ("pilotfish.translate.outbound", namespace)
    found: OutboundBlock | None = push.memo.get(key)
    if found is None:
        shared = _default_block(push)
        differ = _resolved_differently(namespace, push)
        found = shared if not differ else _block(push, differ, base=shared)
        push.memo[key] = found
    return found


def _default_rule(service: Service, push: PushContext) -> DestinationRule | None:
    """The rule of a proxy in the service's namespace that no rule's selector selects."""
    return push.destination_rule(service.hostname, service.namespace, service.namespace, ())


def _default_block(push: PushContext) -> OutboundBlock:
    """The block of a namespace that resolves every service as its own namespace does. A
    `Carry` unit itself: a push context with the same registry objects (services, instances:
    the endpoints and service accounts), the same mesh settings and the same objects of every
    kind its pieces read (DestinationRules, PeerAuthentications...) has the very same block,
    as after a VirtualService change, so nothing of it is looked up, checked or encoded again;
    when only the instances changed, it is the last block with the services they move rebuilt
    (`_derived`)."""
    key = "pilotfish.translate.outbound.default"
    found: OutboundBlock | None = push.memo.get(key)
    if found is None:
        registry, carry, mesh = push.registry, carry_of(push), _mesh_key(push)
        unit_key = (key, id(registry.services), id(registry.instances), mesh)
        last = carry.latest(key)
        found = carry.unit(
            push,
            unit_key,
            lambda: _derived(push, last) or _build_default_block(push),
            keep=(registry.services, registry.instances),
        )
        carry.remember(key, _Last(registry.services, registry.instances, mesh, unit_key, found))
        push.memo[key] = found
    return found


PARTS_PER_SPEC = 4
"""What a default block is built of, in units per spec, with room: each cluster and that cluster
without its connection pool (`_pooled`), and the service's shared units (10,001 units for 3,000
specs at 1,000 services). Under 4 (3 before `_pooled`), `_derived` refuses every block and an
endpoint change rebuilds all of it (0.08 -> 0.16 s CPU at 1,000 / 2,000)."""


@dataclass(frozen=True)
class _Last:
    """The last default block and what it was made of (`_derived`)."""

    services: tuple[Service, ...]
    instances: tuple[WorkloadInstance, ...]
    mesh: str
    key: Hashable
    block: OutboundBlock


def _derived(push: PushContext, last: object) -> OutboundBlock | None:
    """The default block from the last one when only the registry's instances changed (the
    same services object, mesh settings and config objects it read: `Carry.inherit`): the
    clusters and assignments of the services whose instances moved are rebuilt, every other
    resource is the same object. None when that does not hold."""
    registry = push.registry
    if not isinstance(last, _Last) or last.services is not registry.services:
        return None
    if last.mesh != _mesh_key(push):
        return None
    moved = push.moved_by(last.instances)
    if moved is None:
        return None
    carry = carry_of(push)
    most = PARTS_PER_SPEC * len(last.block.specs) + 64  # more: derived too often, rebuilt
    if not carry.inherit(last.key, push, max_parts=most):
        return None
    clusters = dict(last.block.resources[CLUSTER])
    endpoints = dict(last.block.resources[ENDPOINT])
    for spec in last.block.specs.values():
        if spec.service.hostname in moved:  # its entries are replaced in place (same order)
            _add_resources(spec, push, carry, clusters, endpoints)
    resources = ProxyResources({CLUSTER: clusters, ENDPOINT: endpoints})
    return OutboundBlock(specs=last.block.specs, resources=resources, notes=last.block.notes)


def _build_default_block(push: PushContext) -> OutboundBlock:
    push.kind(DESTINATION_RULE)  # recorded: the rules are looked up through an index
    rules = {s.hostname: _default_rule(s, push) for s in push.services}
    return _block(push, rules, base=None)


def _resolved_differently(namespace: str, push: PushContext) -> dict[str, DestinationRule | None]:
    """Services whose rule for proxies of `namespace` is not their default one, with it."""
    if _some_rule_narrowed(push):
        candidates = list(push.services)  # exportTo narrows some rule: check every service
    else:  # from the namespace's own rules, not a look-up per service
        exact, wildcards = push.own_rule_hosts(namespace)
        if wildcards:
            candidates = [s for s in push.services if push.has_own_rule(s.hostname, namespace)]
        else:
            by_host = _services_by_lower_host(push)
            found = [s for host in exact for s in by_host.get(host, ())]
            candidates = sorted(found, key=lambda s: s.hostname)
    differ: dict[str, DestinationRule | None] = {}
    for service in candidates:
        rule = push.destination_rule(service.hostname, namespace, service.namespace)
        if rule is not _default_rule(service, push):
            differ[service.hostname] = rule
    return differ


def _services_by_lower_host(push: PushContext) -> Mapping[str, tuple[Service, ...]]:
    """The push context's services by lower-cased hostname (as rules' exact hosts are kept),
    once per push context."""
    key = "pilotfish.translate.outbound.by_lower_host"
    found: dict[str, tuple[Service, ...]] | None = push.memo.get(key)
    if found is None:
        found = {}
        for service in push.services:
            host = service.hostname.lower()
            found[host] = (*found.get(host, ()), service)
        push.memo[key] = found
    return found


def _some_rule_narrowed(push: PushContext) -> bool:
    """Whether some DestinationRule's exportTo (or the mesh's default) is not every namespace
    (or it has a `workloadSelector`: it is its namespace's alone),
    once per push context (the kind is recorded as read on every call)."""
    rules = push.kind(DESTINATION_RULE)
    key = "pilotfish.translate.outbound.narrowed"
    found: bool | None = push.memo.get(key)
    if found is None:
        default = push.mesh.export_defaults.destination_rule
        found = push.memo[key] = any(
            rule.spec.workload_selector is not None  # its own namespace's alone
            or not _exported_everywhere(rule.spec.export_to or default)
            for rule in rules
        )
    return found


def _exported_everywhere(export_to: Iterable[str]) -> bool:
    export_to = tuple(export_to)
    return not export_to or "*" in export_to


def _block(
    push: PushContext, rules: Mapping[str, DestinationRule | None], base: OutboundBlock | None
) -> OutboundBlock:
    """Specs and resources for the services in `rules` (hostname -> rule), over `base`."""
    carry = carry_of(push)
    specs: dict[str, OutboundClusterSpec] = dict(base.specs) if base else {}
    clusters: dict[str, Message] = dict(base.resources[CLUSTER]) if base else {}
    endpoints: dict[str, Message] = dict(base.resources[ENDPOINT]) if base else {}
    notes: dict[str, tuple[Diagnostic, ...]] = dict(base.notes) if base else {}
    by_host = {s.hostname: s for s in push.services}
    for hostname, rule in rules.items():
        service = by_host[hostname]
        if base is not None:
            for name in [n for n, s in specs.items() if s.service.hostname == hostname]:
                del specs[name]
                clusters.pop(name, None)
                endpoints.pop(name, None)
        unit = carry.unit(
            push,
            ("pilotfish.translate.outbound.service", service, id(rule)),
            lambda service=service, rule=rule: service_unit(service, rule),  # type: ignore[misc]
            keep=rule,
        )
        notes[hostname] = unit.diagnostics
        for spec in unit.specs:
            specs[spec.name] = spec
            _add_resources(spec, push, carry, clusters, endpoints)
    which: object = "default" if base is None else tuple(sorted(rules))
    return OutboundBlock(
        specs=carry.stable(
            ("pilotfish.translate.outbound.specs", which), dict(sorted(specs.items()))
        ),
        resources=ProxyResources({CLUSTER: clusters, ENDPOINT: endpoints}),
        notes={h: n for h, n in sorted(notes.items()) if n},
    )


def _add_resources(
    spec: OutboundClusterSpec,
    push: PushContext,
    carry: Carry,
    clusters: dict[str, Message],
    endpoints: dict[str, Message],
) -> None:
    mesh = _mesh_key(push)
    accounts = tuple(mesh_tls.service_accounts(spec.service, push))
    cluster = carry.unit(
        push,
        ("pilotfish.translate.outbound.cluster", id(spec), mesh, accounts),
        lambda: pooled_cluster(spec, push, carry, (mesh, accounts)),
        keep=spec,
    )
    found = push.endpoints(spec.service, spec.port)
    if service_entries.needs_own_endpoints(spec):
        clusters[spec.name] = carry.unit(
            push,
            ("pilotfish.translate.outbound.own_endpoints", id(spec), found),
            lambda: service_entries.reshape_cluster(cluster, spec, push),
            keep=spec,
        )
        return
    clusters[spec.name] = cluster
    endpoints[spec.name] = carry.unit(
        push,
        ("pilotfish.translate.outbound.endpoints", spec.name, spec.subset_labels, found, mesh),
        lambda: load_assignment(spec, push),
    )


def _mesh_key(push: PushContext) -> str:
    """The mesh settings as a key part (clusters and endpoints read several of them), but the
    outbound traffic policy, which none of them reads (the listeners, the special clusters and
    the route configurations do): a change of it keeps every outbound block."""
    found: str | None = push.memo.get("pilotfish.translate.outbound.mesh")
    if found is None:
        read = replace(push.mesh, outbound_traffic_policy="")
        found = push.memo["pilotfish.translate.outbound.mesh"] = repr(read)
    return found


__all__ = ["OutboundBlock", "exported_to", "outbound_block", "outbound_cluster_specs"]
