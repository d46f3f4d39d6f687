"""`PushContext`: one immutable, indexed snapshot of all config and the registry.

Translation reads only this (and the `Proxy`); a new push context is built for every change.
ServiceEntries and WorkloadEntries among the configs are merged into `registry` when the push
context is built (`pilotfish.registry.service_entries`), so every translator sees their hosts
and endpoints exactly like the manifest's services and instances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pilotfish.config.hosts import CLUSTER_DOMAIN, host_matches, resolve_host, specificity
from pilotfish.config.mesh_security import ExtAuthzProvider
from pilotfish.config.mesh_telemetry import MeshTelemetry
from pilotfish.config.objects import (
    ConfigObject,
    DestinationRule,
    Gateway,
    VirtualService,
)
from pilotfish.registry.service_entries import SERVICE_ENTRY, WORKLOAD_ENTRY, with_entries
from pilotfish.registry.types import (
    Endpoint,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)

MESH_GATEWAY = "mesh"


def exported_to(config: ConfigObject[Any], namespace: str) -> bool:
    """Istio's `exportTo`: empty or "*" = every namespace, "." = the config's own, "~" = none,
    otherwise the namespaces listed."""
    export_to = tuple(getattr(config.spec, "export_to", ()) or ())
    if not export_to or "*" in export_to:
        return True
    own = config.meta.namespace
    return any(e == namespace or (e == "." and own == namespace) for e in export_to)


@dataclass(frozen=True)
class MeshConfig:
    """The subset of Istio's MeshConfig that pilotfish honours (same names, same defaults)."""

    root_namespace: str = "istio-system"
    trust_domain: str = CLUSTER_DOMAIN
    outbound_traffic_policy: str = "ALLOW_ANY"
    enable_auto_mtls: bool = True
    enable_prometheus_merge: bool = True
    proxy_admin_port: int = 15000
    ingress_selector: str = "ingressgateway"
    telemetry: MeshTelemetry = field(default_factory=MeshTelemetry)
    path_normalization: str = "BASE"  # NONE | BASE | MERGE_SLASHES | DECODE_AND_MERGE_SLASHES
    extension_providers: tuple[ExtAuthzProvider, ...] = ()


def gateway_ref(ref: str, namespace: str) -> str:
    """`bookinfo-gateway` in namespace `default` -> `default/bookinfo-gateway`; `mesh` stays."""
    if ref == MESH_GATEWAY or "/" in ref:
        return ref
    return f"{namespace}/{ref}"


@dataclass(frozen=True)
class PushContext:
    registry: RegistrySnapshot
    configs: tuple[ConfigObject[Any], ...] = ()
    mesh: MeshConfig = field(default_factory=MeshConfig)

    def __post_init__(self) -> None:
        entries = [c for c in self.configs if c.meta.kind in (SERVICE_ENTRY, WORKLOAD_ENTRY)]
        if entries:
            object.__setattr__(self, "registry", with_entries(self.registry, entries))

    @cached_property
    def services(self) -> tuple[Service, ...]:
        """Registry services sorted by hostname."""
        return tuple(sorted(self.registry.services, key=lambda s: s.hostname))

    @cached_property
    def memo(self) -> dict[Hashable, Any]:
        """Per-push-context memo for data derived purely from it (e.g. translation results
        shared by every proxy of one namespace). Entries must never be mutated."""
        return {}

    @cached_property
    def _instances_by_label(self) -> dict[tuple[str, str, str], list[WorkloadInstance]]:
        index: dict[tuple[str, str, str], list[WorkloadInstance]] = {}
        for instance in self.registry.instances:
            for key, value in instance.labels:
                index.setdefault((instance.namespace, key, value), []).append(instance)
        return index

    @cached_property
    def _selected_instances(self) -> dict[str, tuple[WorkloadInstance, ...]]:
        """Instances each service selects (by hostname), found through a label index."""
        selected: dict[str, tuple[WorkloadInstance, ...]] = {}
        for service in self.registry.services:
            if not service.selector:
                selected[service.hostname] = ()
                continue
            key, value = service.selector[0]
            candidates = self._instances_by_label.get((service.namespace, key, value), [])
            selected[service.hostname] = tuple(
                i for i in candidates if service.selects(i.label_map)
            )
        return selected

    def endpoints(self, service: Service, port: ServicePort) -> tuple[Endpoint, ...]:
        """Instances the service selects (and its ServiceEntry endpoints), at the port's target
        port, sorted by address; from an index built once per push context."""
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
            )
            for i in self._selected_instances.get(service.hostname, ()) + service.entries
        ]
        return tuple(sorted(found, key=lambda e: (e.address, e.port)))

    @cached_property
    def _by_kind(self) -> dict[str, tuple[ConfigObject[Any], ...]]:
        by_kind: dict[str, list[ConfigObject[Any]]] = {}
        for config in sorted(self.configs, key=lambda c: (c.meta.namespace, c.meta.name)):
            by_kind.setdefault(config.meta.kind, []).append(config)
        return {kind: tuple(found) for kind, found in by_kind.items()}

    def virtual_services(self) -> tuple[VirtualService, ...]:
        return self.kind("VirtualService")

    def kind(self, kind: str) -> tuple[ConfigObject[Any], ...]:
        """Objects of one kind, sorted by (namespace, name): the order Istio resolves ties in.
        Indexed once per push context."""
        return self._by_kind.get(kind, ())

    def destination_rule(
        self, host: str, proxy_namespace: str, service_namespace: str = ""
    ) -> DestinationRule | None:
        """The DestinationRule Istio applies to `host` for a proxy in `proxy_namespace`.

        Namespaces are tried in order: the proxy's, the service's, the root namespace; inside
        one, the most specific host wins (exact before wildcard), ties by namespace/name.
        """
        order = [proxy_namespace, service_namespace, self.mesh.root_namespace]
        for namespace in dict.fromkeys(n for n in order if n):
            candidates = [
                (specificity(resolved, host), rule)
                for resolved, rule in self._rules_by_namespace.get(namespace, ())
                if host_matches(resolved, host) and exported_to(rule, proxy_namespace)
            ]
            if candidates:
                return min(candidates, key=lambda pair: pair[0])[1]
        return None

    @cached_property
    def _rules_by_namespace(self) -> dict[str, list[tuple[str, DestinationRule]]]:
        """DestinationRules with their resolved host, by namespace, in namespace/name order."""
        index: dict[str, list[tuple[str, DestinationRule]]] = {}
        for rule in self.kind("DestinationRule"):
            if rule.spec.host:
                resolved = resolve_host(rule.spec.host, rule.meta.namespace)
                index.setdefault(rule.meta.namespace, []).append((resolved, rule))
        return index

    def mesh_virtual_services(self) -> tuple[VirtualService, ...]:
        """VirtualServices that apply to sidecars: `gateways` empty or containing `mesh`."""
        return self._mesh_virtual_services

    @cached_property
    def _mesh_virtual_services(self) -> tuple[VirtualService, ...]:
        return tuple(
            vs
            for vs in self.kind("VirtualService")
            if not (vs.spec.gateways or ()) or MESH_GATEWAY in vs.spec.gateways
        )

    def mesh_virtual_service(self, host: str, namespace: str) -> VirtualService | None:
        """The sidecar VirtualService for a service host, among those exported to the proxy's
        namespace: most specific host, then namespace/name."""
        best: tuple[tuple[int, int], int, VirtualService] | None = None
        for order, vs in enumerate(self._mesh_virtual_services):
            if not exported_to(vs, namespace):
                continue
            for written in vs.spec.hosts or ():
                pattern = resolve_host(written, vs.meta.namespace)
                if host_matches(pattern, host):
                    candidate = (specificity(pattern, host), order, vs)
                    if best is None or candidate[:2] < best[:2]:
                        best = candidate
        return None if best is None else best[2]

    def gateway_virtual_services(self, gateway_key: str) -> tuple[VirtualService, ...]:
        """VirtualServices bound to a Gateway (`ns/name`; short names resolve in the VS's ns)."""
        return tuple(
            vs
            for vs in self.kind("VirtualService")
            if gateway_key in (gateway_ref(g, vs.meta.namespace) for g in vs.spec.gateways or ())
        )

    def gateways_for(self, labels: dict[str, str]) -> tuple[Gateway, ...]:
        """Gateways whose `selector` is a non-empty subset of `labels`."""
        return tuple(
            gw
            for gw in self.kind("Gateway")
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


def _identity(configs: Iterable[ConfigObject[Any]]) -> Iterable[str]:
    for c in sorted(configs, key=lambda c: c.meta.key):
        yield repr((c.meta.key, c.raw.get("spec")))
