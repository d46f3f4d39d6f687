"""`PushContext`: one immutable, indexed snapshot of all config and the registry.

Translation reads only this (and the `Proxy`); a new push context is built for every change.
ServiceEntries and WorkloadEntries among the configs are merged into `registry` when the push
context is built (`pilotfish.registry.service_entries`), so every translator sees their hosts
and endpoints exactly like the manifest's services and instances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import InitVar, dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pilotfish.config.hosts import resolve_host
from pilotfish.config.kinds import (
    DESTINATION_RULE,
    GATEWAY,
    SERVICE_ENTRY,
    VIRTUAL_SERVICE,
    WORKLOAD_ENTRY,
    Kind,
)
from pilotfish.config.objects import (
    AnyConfig,
    ConfigObject,
    DestinationRule,
    Gateway,
    VirtualService,
)
from pilotfish.model.destination_rules import Labels, RuleIndex, Selection, pick
from pilotfish.model.host_index import HostIndex, most_specific
from pilotfish.model.kind_groups import INHERITED, KindGroups, kind_groups, source_matches
from pilotfish.model.mesh import MeshConfig
from pilotfish.registry.service_entries import with_entries
from pilotfish.registry.types import (
    Endpoint,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)

if TYPE_CHECKING:
    from pilotfish.config.models.networking import VirtualServiceSpec

MESH_GATEWAY = "mesh"
T = TypeVar("T")
SpecT = TypeVar("SpecT")


def gateway_ref(ref: str, namespace: str) -> str:
    """`bookinfo-gateway` in namespace `default` -> `default/bookinfo-gateway`; `mesh` stays."""
    if ref == MESH_GATEWAY or "/" in ref:
        return ref
    return f"{namespace}/{ref}"


@dataclass(frozen=True)
class PushContext:
    registry: RegistrySnapshot
    configs: tuple[AnyConfig, ...] = ()
    mesh: MeshConfig = field(default_factory=MeshConfig)
    carry: object = field(default=None, compare=False, repr=False)
    """What translation keeps from one push context to the next (`translate.carry.Carry`),
    passed from each push context to the one that replaces it; None: nothing is kept."""
    previous_services: InitVar[tuple[Service, ...] | None] = None
    """The services of the push context this one replaces: kept (the very objects) if equal,
    so what translation keyed on their identity (`translate.carry`) stays valid across a
    change that re-read the manifest without changing a service (e.g. a mesh setting)."""
    previous: InitVar[PushContext | None] = None  # the one this replaces (`registry_memo`)
    rule_selection: tuple[str, Selection] | None = field(default=None, compare=False)
    """(namespace, selection): this push context is a proxy's of that namespace whose labels
    satisfy those DestinationRule selectors (`translate.sidecar_scope.scoped_push`)."""

    def __post_init__(self, previous_services: tuple[Service, ...] | None, previous: Any) -> None:
        known = previous.__dict__ if previous is not None else {}  # derived from kinds alone
        self.__dict__["_inherited"] = {n: known[n] for n in INHERITED if n in known}
        listed = self._kind_groups.listed  # (with_entries sorts them, each kind apart)
        entries = [*listed.get(SERVICE_ENTRY, ()), *listed.get(WORKLOAD_ENTRY, ())]
        if entries:
            object.__setattr__(self, "registry", with_entries(self.registry, entries))
        default = self.mesh.export_defaults.service
        if default and any(not s.export_to for s in self.registry.services):
            services = tuple(
                s if s.export_to else replace(s, export_to=default) for s in self.registry.services
            )
            object.__setattr__(self, "registry", replace(self.registry, services=services))
        found, before = self.registry, previous_services
        if before is not None and found.services is not before and found.services == before:
            kept = RegistrySnapshot(before, found.instances, found.secrets)
            object.__setattr__(self, "registry", kept)
        last = previous.registry if previous is not None else None
        if last and last.services is self.registry.services and last.instances is found.instances:
            self.__dict__["registry_memo"] = previous.registry_memo  # a cached_property's slot

    @cached_property
    def services(self) -> tuple[Service, ...]:  # the registry's, sorted by hostname
        return tuple(sorted(self.registry.services, key=lambda s: s.hostname))

    @cached_property
    def memo(self) -> dict[Hashable, Any]:  # what derives purely from this push context
        return {}  # (entries are never mutated)

    @cached_property
    def registry_memo(self) -> dict[Hashable, Any]:  # `memo` of the registry alone (endpoints,
        return {}  # selections...): `previous`'s if the very same registry

    @cached_property
    def _instances_by_label(self) -> dict[tuple[str, str, str], list[WorkloadInstance]]:
        index: dict[tuple[str, str, str], list[WorkloadInstance]] = {}
        for instance in self.registry.instances:
            for key, value in instance.labels:
                index.setdefault((instance.namespace, key, value), []).append(instance)
        return index

    @cached_property
    def _selecting(self) -> dict[str, Service]:  # the registry's (last) service of a hostname
        return {s.hostname: s for s in self.registry.services}

    def _selected_instances(self, hostname: str) -> tuple[WorkloadInstance, ...]:
        """What the registry's service of `hostname` selects, by a label index, once per service."""
        key = ("pilotfish.model.selected", hostname)
        found: tuple[WorkloadInstance, ...] | None = self.registry_memo.get(key)
        if found is None:
            service, found = self._selecting.get(hostname), ()
            if service is not None and service.selector:
                label = (service.namespace, *service.selector[0])
                candidates = self._instances_by_label.get(label, [])
                found = tuple(i for i in candidates if service.selects(i.label_map))
            self.registry_memo[key] = found
        return found

    def endpoints(self, service: Service, port: ServicePort) -> tuple[Endpoint, ...]:
        """Instances `service` selects and its ServiceEntry endpoints at `port`, by address."""
        key = ("pilotfish.model.endpoints", service, port)
        found: tuple[Endpoint, ...] | None = self.registry_memo.get(key)
        if found is None:
            found = self.registry_memo[key] = self._endpoints(service, port)
        return found

    def moved_by(self, before: tuple[WorkloadInstance, ...]) -> frozenset[str] | None:
        """Hostnames of the services selecting an instance that differs between `before` and
        this registry's instances (by name; the same object first: `InstanceRows`): the only
        services whose endpoints (and service accounts) can differ when only instances changed.
        None if names repeat."""
        after = self.registry.instances
        old, new = {i.name: i for i in before}, {i.name: i for i in after}
        if len(old) != len(before) or len(new) != len(after):
            return None
        changed = [i for n, i in old.items() if (j := new.get(n)) is not i and j != i]
        changed += [i for n, i in new.items() if (j := old.get(n)) is not i and j != i]
        moved: set[str] = set()
        for instance in changed:
            labels = instance.label_map
            for service in self.services_by_namespace.get(instance.namespace, ()):
                if service.selects(labels):
                    moved.add(service.hostname)
        return frozenset(moved)

    @cached_property
    def services_by_namespace(self) -> dict[str, tuple[Service, ...]]:
        """Registry services of each namespace, sorted by hostname."""
        found: dict[str, list[Service]] = {}
        for service in self.services:
            found.setdefault(service.namespace, []).append(service)
        return {namespace: tuple(services) for namespace, services in found.items()}

    def _endpoints(self, service: Service, port: ServicePort) -> tuple[Endpoint, ...]:
        found = [
            Endpoint(
                address=i.address,
                port=i.port_for(port),
                labels=i.labels,
                instance=i.name,
                service_account=i.service_account,
                healthy=i.ready,
                workload=i.workload,
                namespace=i.namespace,
                sidecar=i.sidecar,
                locality=i.resolved_locality,
            )
            for i in self._selected_instances(service.hostname) + service.entries
        ]
        return tuple(sorted(found, key=lambda e: (e.address, e.port)))

    @cached_property
    def _kind_groups(self) -> KindGroups:
        return kind_groups(self.configs, self.__dict__["_inherited"].get("_kind_groups"))

    @cached_property
    def _by_kind(self) -> dict[str, tuple[AnyConfig, ...]]:
        return self._kind_groups.by_kind

    def virtual_services(self) -> tuple[VirtualService, ...]:
        return self.kind(VIRTUAL_SERVICE)

    @overload
    def kind(self, kind: Kind[SpecT]) -> tuple[ConfigObject[SpecT], ...]: ...
    @overload
    def kind(self, kind: str) -> tuple[AnyConfig, ...]: ...
    def kind(self, kind: str) -> tuple[AnyConfig, ...]:
        """The configs of one kind (typed by a `config.kinds` key), sorted by namespace/name,
        once per push context; recorded (`record_into`): what a cached unit read."""
        found = self._by_kind.get(kind, ())
        for reads in self._recorders:
            reads[kind] = found
        return found

    @cached_property
    def _recorders(self) -> list[dict[str, tuple[AnyConfig, ...]]]:
        return []

    def record_into(self, reads: dict[str, tuple[AnyConfig, ...]]) -> None:
        """Record into `reads` each kind `kind()` reads until `stop_recording` (innermost first)."""
        self._recorders.append(reads)

    def stop_recording(self, reads: dict[str, tuple[AnyConfig, ...]]) -> None:
        if self._recorders.pop() is not reads:  # by identity: an outer one may be equal
            raise AssertionError("a recording ended before the one inside it")

    def memoized(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()`, once per push context; the kinds it read are recorded again on every
        later use, so a cached translation unit that uses the result depends on them too."""
        found = self.memo.get(key)
        if found is None:
            reads: dict[str, tuple[AnyConfig, ...]] = {}
            self.record_into(reads)
            try:
                value = build()
            finally:
                self.stop_recording(reads)
            found = self.memo[key] = (value, reads)
        else:
            for recorder in self._recorders:
                recorder.update(found[1])
        result: T = found[0]
        return result

    def same_kind(self, kind: str, objects: tuple[AnyConfig, ...]) -> bool:
        """Whether `kind` is exactly `objects` here (the same objects, in the same order)."""
        key = ("pilotfish.model.same_kind", kind, id(objects))
        same = self.memo.get(key)
        if same is None:
            current = self._by_kind.get(kind, ())
            same = current is objects or (
                len(current) == len(objects)
                and all(a is b for a, b in zip(current, objects, strict=True))
            )
            self.memo[key] = (same, objects)
            return same
        return bool(same[0])

    def destination_rule(
        self,
        host: str,
        proxy_namespace: str,
        service_namespace: str = "",
        selection: Selection | None = None,
    ) -> DestinationRule | None:
        """The DestinationRule Istio applies to `host` for a proxy in `proxy_namespace` whose
        labels satisfy the selectors in `selection` (None: this push context's own
        `rule_selection` for a proxy of its namespace, else none), consolidated and picked as
        istiod does (`model.destination_rules`), memoised."""
        if selection is None:
            own = self.rule_selection
            selection = own[1] if own is not None and own[0] == proxy_namespace else ()
        key, memo = (host, proxy_namespace, service_namespace, selection), self._rule_memo
        if key in memo:
            return memo[key]
        index = self.rule_index
        entry = pick(index.candidates(host, proxy_namespace, service_namespace), proxy_namespace,
                     selection)  # fmt: skip
        found = memo[key] = entry.rule if entry is not None else None
        return found

    def destination_rule_for(
        self, host: str, namespace: str, labels: Mapping[str, str], service_namespace: str = ""
    ) -> DestinationRule | None:
        """`destination_rule` for a workload of `namespace` with `labels` (describe, explain)."""
        selection = self.rule_index.selection(namespace, labels)
        return self.destination_rule(host, namespace, service_namespace, selection)

    def rule_selection_of(self, namespace: str, labels: Labels) -> Selection:
        """The selectors of `namespace`'s rules `labels` satisfy (`RuleIndex.selection`)."""
        return self.rule_index.selection(namespace, labels)

    def has_own_rule(self, host: str, namespace: str) -> bool:
        """Whether DestinationRules visible in `namespace` itself name `host` (exactly or by a
        wildcard): only then may its proxies resolve `host` unlike the host's own namespace."""
        return self.rule_index.has_host(namespace, host)

    def own_rule_hosts(self, namespace: str) -> tuple[frozenset[str], bool]:
        """The exact hosts (lower case) DestinationRules visible in `namespace` itself name,
        and whether one of them names a wildcard: `has_own_rule` without asking host by host."""
        return self.rule_index.own_hosts(namespace)

    @cached_property
    def _rule_memo(self) -> dict[tuple[str, str, str, Selection], DestinationRule | None]:
        return {}

    @cached_property
    def rule_index(self) -> RuleIndex:
        """DestinationRules consolidated as istiod does (the last push context's index when it
        indexed the very same rules, with the same default and root namespace)."""
        rules: tuple[DestinationRule, ...] = self._by_kind.get(DESTINATION_RULE, ())
        settings = (self.mesh.export_defaults.destination_rule, self.mesh.root_namespace)
        last = self.__dict__["_inherited"].get("_rules")
        if last is not None and last[0] is rules and last[1] == settings:
            index: RuleIndex = last[2]
        else:
            before = last[2] if last is not None else None
            index = RuleIndex(rules, settings[0], settings[1], before)
        self.__dict__["_rules"] = (rules, settings, index)
        return index

    def mesh_virtual_service(self, host: str, namespace: str) -> VirtualService | None:
        """The sidecar VirtualService for a service host, among those exported to the proxy's
        namespace: most specific host, then ns/name. From a host index, memoised."""
        index = self._mesh_vs_index
        key = (host, namespace if index.restricted else "")  # else: the same for every one
        memo = self._vs_memo
        if key not in memo:
            memo[key] = most_specific(index, host, namespace)
        return memo[key]

    def virtual_service_view(self, namespace: str) -> tuple[int, ...]:
        return self._mesh_vs_index.view(namespace)  # what `mesh_virtual_service` reads of it

    @cached_property
    def _vs_memo(self) -> dict[tuple[str, str], VirtualService | None]:
        return {}

    @cached_property
    def _mesh_vs_index(self) -> HostIndex[VirtualServiceSpec]:
        index: HostIndex[VirtualServiceSpec] = HostIndex(self.mesh.export_defaults.virtual_service)
        for order, vs in enumerate(self._mesh_virtual_services):
            for written in vs.spec.hosts or ():
                index.add(resolve_host(written, vs.meta.namespace), order, vs)
        return index

    def mesh_virtual_services(self) -> tuple[VirtualService, ...]:
        """VirtualServices that apply to sidecars: `gateways` empty or containing `mesh`."""
        self.kind(VIRTUAL_SERVICE)  # recorded: the caller reads them all
        return self._mesh_virtual_services

    @cached_property
    def _mesh_virtual_services(self) -> tuple[VirtualService, ...]:
        return tuple(
            vs
            for vs in self._by_kind.get(VIRTUAL_SERVICE, ())
            if not (vs.spec.gateways or ()) or MESH_GATEWAY in vs.spec.gateways
        )

    def source_label_matches(self) -> bool:
        """Whether any VirtualService matches on `sourceLabels`: only then does a sidecar's
        route configuration depend on its own labels (as Istio, which stops caching then)."""
        return self._source_matches[0]

    def source_matches(self) -> tuple[bool, bool]:
        """Whether any VirtualService HTTP match uses `sourceLabels`, `sourceNamespace`."""
        return self._source_matches

    @cached_property
    def _source_matches(self) -> tuple[bool, bool]:
        return source_matches(self._by_kind.get(VIRTUAL_SERVICE, ()))

    def gateway_virtual_services(self, gateway_key: str) -> tuple[VirtualService, ...]:
        """VirtualServices bound to a Gateway (`ns/name`; short names resolve in the VS's ns)."""
        return tuple(
            vs
            for vs in self.kind(VIRTUAL_SERVICE)
            if gateway_key in (gateway_ref(g, vs.meta.namespace) for g in vs.spec.gateways or ())
        )

    def gateways_for(self, labels: dict[str, str]) -> tuple[Gateway, ...]:
        """Gateways whose `selector` is a non-empty subset of `labels`."""
        return tuple(
            gw
            for gw in self.kind(GATEWAY)
            if gw.spec.selector
            and all(labels.get(k) == v for k, v in dict(gw.spec.selector).items())
        )

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for item in _identity(self.configs):
            digest.update(item.encode())
        digest.update(repr(self.registry.services).encode())
        digest.update(repr(self.registry.instances).encode())
        return digest.hexdigest()[:12]


def _identity(configs: Iterable[AnyConfig]) -> Iterable[str]:
    for c in sorted(configs, key=lambda c: c.meta.key):
        yield repr((c.meta.key, c.raw.get("spec")))
