"""`ControlPlane`: config store + registry -> push context -> per-proxy snapshots -> xDS.

Every change (apply, delete, instance registration) builds a new immutable `PushContext`,
regenerates the snapshot of every connected proxy the change can affect (`translate.affected`:
all of them for a manifest change; for a registry change that moves only endpoints, sidecars
take new endpoint assignments and keep everything else, as Istio's incremental EDS), checks it,
and publishes the changed ones in the `SnapshotCache` it shares with the xDS server (which
pushes them), once the change is committed. Validation is all-or-nothing: a change with one
bad document changes nothing. Turning a push context into each proxy's snapshot is
`generations.ProxyGenerations`, which `ControlPlane` extends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.ca.authority import CertificateAuthority
from pilotfish.ca.tokens import TokenRegistry
from pilotfish.config.gateway_api.convert import with_gateway_api
from pilotfish.config.gateway_api.deployment import owned_keys
from pilotfish.config.kinds import DESTINATION_RULE, VIRTUAL_SERVICE
from pilotfish.config.objects import ConfigObject, Diagnostic
from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.assembly import SharedChecks, notes_about
from pilotfish.controlplane.citadel import CaState
from pilotfish.controlplane.generations import ProxyGenerations
from pilotfish.controlplane.instances import read_instances, write_instances
from pilotfish.controlplane.store import DocKey, DocumentStore, StaleWrite, doc_key
from pilotfish.model.mesh import MeshConfig
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.cluster_ips import ClusterIpCache
from pilotfish.registry.images import ImageMap, load_image_map
from pilotfish.registry.injection import namespace_labels
from pilotfish.registry.inputs import Parsed, manifest_of, parse_documents
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.types import RegistrySnapshot, WorkloadInstance
from pilotfish.state_files import STORE_FILE
from pilotfish.telemetry.provider_notes import provider_notes
from pilotfish.translate.affected import (
    affected_proxies,
    changed_configs,
    endpoint_change,
    holds_peer_table,
    manifest_affects_proxies,
    outbound_policy_change,
    peer_table_changed,
    virtual_service_hosts,
)
from pilotfish.translate.carry import Carry
from pilotfish.translate.resources import ProxyResources
from pilotfish.xds.cache import SnapshotCache
from pilotfish.xds.resources import Snapshot

log = logging.getLogger("pilotfish.controlplane")

# kinds a sidecar's own part does not read (`generate.with_new_routes` checks where it does)
ROUTES = frozenset({VIRTUAL_SERVICE, DESTINATION_RULE})


@dataclass
class ChangeResult:
    ok: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    affected: list[str] = field(default_factory=list)  # node ids whose snapshot changed
    expected: dict[str, Snapshot] = field(default_factory=dict)


@dataclass(frozen=True)
class _GenerationState:
    """What a change replaces, kept until the change has translated (restored if it fails)."""

    parsed: Parsed
    version: int
    push: PushContext
    shared: SharedChecks
    proxies: dict[str, Proxy]
    generated: dict[str, tuple[tuple[ProxyResources, ...], ProxyResources]]
    notes: dict[str, list[Diagnostic]]
    errors: dict[str, list[str]]


class ControlPlane(ProxyGenerations):
    def __init__(
        self,
        state_dir: Path,
        ca: CaState | None = None,
        trace_collector_address: str = "",
        image_map: str | None = None,
        cache: SnapshotCache | None = None,
        service_cidr: str = "",
        filter_gateway_clusters: bool = False,
        on_demand_clusters: bool = False,
        on_demand_routes: bool = False,
    ) -> None:
        super().__init__(cache)
        self.state_dir = state_dir
        # PILOT_FILTER_GATEWAY_CLUSTER_CONFIG
        self.filter_gateway_clusters = filter_gateway_clusters
        self.on_demand_clusters = on_demand_clusters  # PILOTFISH_ON_DEMAND_CLUSTERS
        self.on_demand_routes = on_demand_routes  # PILOTFISH_ON_DEMAND_ROUTES
        self.cluster_ips = ClusterIpCache(service_cidr)  # captured pods dial services' VIPs
        self.image_map = image_map  # the user's image map file (registry.images), read on apply
        self.trace_collector_address = trace_collector_address  # the local trace collector
        self.ca = ca or CaState(state_dir)
        self.tokens = TokenRegistry(state_dir / "ca" / "tokens.json")
        self.tokens.load()
        self.store = DocumentStore(state_dir / STORE_FILE)
        self.instances_path = state_dir / "instances.json"
        self.instances: tuple[WorkloadInstance, ...] = ()
        self.parsed = Parsed([], Manifest(), [])
        self.carry = Carry()  # translation units reused from one push context to the next
        self.push = PushContext(RegistrySnapshot())
        self.manifest_version = 0
        self.lock = asyncio.Lock()
        self._by_key: tuple[Parsed, dict[DocKey, ConfigObject[Any]]] = (self.parsed, {})
        self._holding_peers: dict[int, tuple[ProxyResources, bool]] = {}  # id(own) -> it, its
        # `holds_peer_table`, of the own parts the last endpoint change saw
        self._retired: list[object] = []
        """What the last change replaced (push context, parts): freeing it takes 5-100 ms at
        1,000 services / 2,000 proxies (measured), holding the GIL, so not as the change
        returns, while its pushes go out: `release_retired` (the API, a moment after)."""

    def release_retired(self) -> None:
        """Let go of what the last change replaced (the next change does it first)."""
        retired, self._retired = self._retired, []
        retired.clear()

    def release_idle(self) -> None:
        """`release_retired` and a full garbage collection (`gc_freeze.collect`), unless a
        change holds the lock (its worker thread would wait on them: it releases first
        itself). Called by the API a moment after a change, when its pushes are out: freeing
        a generation leaves CPython's young-collection count far below zero, so the objects
        the next pushes and change allocate pile up in one young collection of 15-25 ms in a
        later change, and a full collection of what the change allocated (not frozen yet:
        20-60 ms at 1,000 services / 2,000 proxies) lands in one too (BENCHMARKS.md)."""
        if self.lock.locked():
            return
        self.release_retired()
        gc_freeze.collect()
        gc_freeze.resume()  # the collections the API paused for the change (`gc_freeze.pause`)

    # ---- loading state ----------------------------------------------------------------------
    def load_state(self) -> list[Diagnostic]:
        """Read config.yaml and instances.json. Bad state on disk is reported, not fatal."""
        text = self.store.read_text()
        raws, parsed = parse_documents([(str(self.store.path), text)] if text else [])
        if parsed.ok:
            self.store.replace_all(raws)
            parsed.objects = with_gateway_api(parsed.objects, raws)
            self.parsed = parsed
            self.ca.adopt(parsed.manifest, self.push.mesh.root_namespace)
        self.instances = read_instances(self.instances_path) or self.instances
        self._rebuild()
        return parsed.diagnostics

    def _rebuild(self) -> None:
        self.push = self.push_context(carry=self.carry)
        self.assembly.rotate()

    def push_context(self, carry: Carry | None = None) -> PushContext:
        """The push context of the current config and registry; with `carry`, translation
        reuses what it built for earlier ones (without: everything is built from scratch)."""
        manifest = self.parsed.manifest
        services = self.cluster_ips.services(manifest.services, self.parsed.objects)  # VIPs
        registry = RegistrySnapshot(services, self.instances, manifest.secrets)
        mesh = MeshConfig.of(
            manifest,
            self.trace_collector_address,
            self.filter_gateway_clusters,
            self.on_demand_clusters,
            self.on_demand_routes,
        )
        before = self.push.registry.services if carry is not None else None
        previous = self.push if carry is not None else None
        return PushContext(registry, tuple(self.parsed.objects), mesh, carry, before, previous)

    # ---- changes ------------------------------------------------------------------------
    def apply(
        self,
        files: list[tuple[str, str]],
        namespace: str | None = None,
        changed_at: float | None = None,
    ) -> ChangeResult:
        """`changed_at` (monotonic, default now): when the change reached the control plane."""
        self.release_retired()
        explicit = namespace_labels(self.store.of_kind("Namespace"))
        # no service CIDR: the shared mode (the isolated one gives services cluster IPs), whose
        # pods listening at their own ports share the host's loopback (`registry.host_ports`)
        sharing = None if self.cluster_ips.cidr else self.parsed.manifest.workloads
        raws, incoming = parse_documents(
            files, namespace, functools.cache(self._images), explicit, sharing
        )
        if not incoming.ok:
            return ChangeResult(False, incoming.diagnostics)
        if not raws:
            nothing = Diagnostic("error", "no objects passed to apply")
            return ChangeResult(False, [*incoming.diagnostics, nothing])
        try:
            merged, changes = self.store.preview_apply(raws, time.time())
        except StaleWrite as stale:  # the API server's Conflict
            return ChangeResult(
                False, [*incoming.diagnostics, *stale.diagnostics(incoming.objects)]
            )
        return self._adopt(merged, incoming.objects, changes, incoming.diagnostics, changed_at)

    def _images(self) -> ImageMap:
        return load_image_map(self.image_map)

    def delete(
        self,
        files: list[tuple[str, str]],
        keys: list[DocKey],
        namespace: str | None = None,
        changed_at: float | None = None,
    ) -> ChangeResult:
        self.release_retired()
        raws, incoming = parse_documents(files, namespace)
        if not incoming.ok:
            return ChangeResult(False, incoming.diagnostics)
        wanted = [doc_key(r) for r in raws] + keys
        wanted += [k for k in owned_keys(wanted, self.store.documents()) if k not in wanted]
        merged, deleted, missing = self.store.preview_delete(wanted)
        if missing and not deleted:
            return ChangeResult(False, [Diagnostic("error", m) for m in missing])
        notes = [Diagnostic("warning", m) for m in missing]
        return self._adopt(merged, [], deleted, notes, changed_at)

    def _adopt(
        self,
        merged: list[dict[str, Any]],
        incoming: list[ConfigObject[Any]],
        changes: list[str],
        notes: list[Diagnostic],
        changed_at: float | None,
    ) -> ChangeResult:
        """Adopt a validated change: objects already parsed are reused, never re-read. Its
        snapshots are published only once it is committed."""
        manifest, problems = manifest_of(merged)
        problems += self.ca.check(manifest, self.push.mesh.root_namespace)
        if any(p.level == "error" for p in problems):
            return ChangeResult(False, notes + problems)
        keys = self.store.keyed(merged)
        objects = dict(self._objects_by_key())
        objects.update((doc_key(o.raw), o) for o in incoming)
        saved = self._save_generation_state()
        root = self.push.mesh.root_namespace
        kept = (
            objects
            if objects.keys() <= keys.keys()
            else {k: o for k, o in objects.items() if k in keys}
        )
        self.parsed = Parsed(with_gateway_api(list(kept.values()), merged), manifest, [])
        self._by_key = (self.parsed, kept)  # without the Gateway API's conversion
        try:
            self.ca.adopt(manifest, root)
            self._rebuild()
            nodes, routing_only = self._affected_nodes(saved)
            policy_only = self.scope_pushes and outbound_policy_change(self.push, saved.push)
            policy_only = policy_only and not changed_configs(
                saved.parsed.objects, self.parsed.objects
            )
            changed = self._regenerate(
                nodes,
                saved.push if routing_only else None,
                policy_from=saved.push if policy_only else None,
            )
            self._settle(nodes)
        except Exception as exc:  # a translation bug must not cost the last good config
            log.exception("translating the change failed; it is not applied")
            self._restore_generation_state(saved)
            self.ca.adopt(saved.parsed.manifest, root)
            problem = f"internal error while translating the change ({type(exc).__name__}: {exc})"
            return ChangeResult(False, [*notes, Diagnostic("error", problem)])
        self.store.commit(merged)  # only a change that translated is kept
        self.cache.set_many(changed, changed_at)
        self._retired.append(saved)
        if manifest != saved.parsed.manifest:  # after the commit: readers of the manifest (the
            self.manifest_version += 1  # launcher) run on the event loop while this runs in a
            # worker thread, and must never see the new version with the old documents
        notes = notes + notes_about(incoming, self.translation_notes)
        notes += provider_notes(incoming, self.push.mesh.telemetry, self.push.registry)
        return ChangeResult(True, notes, changes, sorted(changed), changed)

    def _objects_by_key(self) -> dict[DocKey, ConfigObject[Any]]:
        """The parsed objects by store key (kept from the change that made them)."""
        if self._by_key[0] is not self.parsed:
            key = self.store.key
            self._by_key = (self.parsed, {key(o.raw): o for o in self.parsed.objects})
        return self._by_key[1]

    def _affected_nodes(self, saved: _GenerationState) -> tuple[list[str], bool]:
        """The connected proxies a config change can affect (the others keep their snapshot,
        which is what the new push context gives them too), and whether only VirtualServices
        and DestinationRules changed (`_regenerate`'s `routes_from`)."""
        nodes = self.live_nodes()
        self.regenerated = len(nodes)
        if not self.scope_pushes or manifest_affects_proxies(self.push, saved.push):
            return nodes, False  # a change of services, gateway secrets or mesh config
        changed = changed_configs(saved.parsed.objects, self.parsed.objects)
        routing_only = all(c.meta.kind in ROUTES for c in changed)
        proxies = dict(self.proxies)  # `nodes`, unless one connected since (then more)
        proxies = proxies if len(proxies) == len(nodes) else {n: proxies[n] for n in nodes}
        affected = affected_proxies(proxies, changed, self.push, saved.push)
        if affected is None:
            return nodes, routing_only
        hosts = virtual_service_hosts(changed, self.push, saved.push) if routing_only else None
        if hosts is not None and self.on_demand_routes:
            names = frozenset((c.meta.kind, f"{c.meta.namespace}/{c.meta.name}") for c in changed)
            affected -= self.not_holding(affected, hosts, saved.push, names)
        for node_id in nodes:
            if node_id in affected:
                continue
            if self._made_from.get(node_id) is saved.push:
                self._made_from[node_id] = self.push
            else:  # built from an older push context (connected meanwhile): build it again
                affected.add(node_id)
        self.regenerated = len(affected)
        return sorted(affected), routing_only

    def _save_generation_state(self) -> _GenerationState:
        return _GenerationState(
            self.parsed,
            self.manifest_version,
            self.push,
            self.assembly.shared,
            dict(self.proxies),
            dict(self.generated),
            dict(self.translation_notes),
            dict(self.generation_errors),
        )

    def _restore_generation_state(self, saved: _GenerationState) -> None:
        self.parsed, self.manifest_version, self.push = saved.parsed, saved.version, saved.push
        self.assembly.shared = saved.shared
        self.proxies = saved.proxies
        self.generated, self.translation_notes = saved.generated, saved.notes
        self.generation_errors = saved.errors

    def set_instances(
        self, instances: list[WorkloadInstance], changed_at: float | None = None
    ) -> dict[str, Snapshot]:
        self.release_retired()
        new = tuple(sorted(instances, key=lambda i: i.name))
        if new == self.instances:
            return {}
        write_instances(self.instances_path, new)
        self.instances = new
        previous = self.push
        self._retired.append(previous)
        self._rebuild()
        nodes = self.live_nodes()
        moved = endpoint_change(previous, self.push) if self.scope_pushes else None
        if moved is None:
            self.regenerated = len(nodes)
            regenerated = self.regenerate(nodes, changed_at)
            self._settle(nodes)
            return regenerated
        holders = self._peer_table_holders()
        if holders and peer_table_changed(previous, self.push):  # only they translate again
            for node_id in holders:
                self._made_from.pop(node_id, None)
        changed = self._regenerate_endpoints(nodes, previous, moved)
        self.cache.set_many(changed, changed_at)
        return changed

    def _peer_table_holders(self) -> list[str]:
        """The proxies whose own part holds the peer table (`holds_peer_table`), asked once
        per own part (most outlive an endpoint change)."""
        known, kept, holders = self._holding_peers, {}, []
        for node_id, (_, own) in self.generated.items():
            found = known.get(id(own))
            if found is None or found[0] is not own:
                found = (own, holds_peer_table(own))
            kept[id(own)] = found
            if found[1]:
                holders.append(node_id)
        self._holding_peers = kept
        return holders

    def _settle(self, regenerated: list[str]) -> None:
        """After a change composed every connected proxy's snapshot again (a mesh-wide change, a
        full push): what the push context before it held and no proxy reuses is let go now,
        not at the next change (measured: ~0.3 GB at 1,000 services / 2,000 proxies,
        BENCHMARKS.md). After a scoped change (an endpoint move) the proxies it left out still
        hold it."""
        if set(regenerated) >= set(self.proxies):
            self.assembly.settle()
            self.carry.forget_previous(self.push)

    def authority(self) -> CertificateAuthority:
        """The CA in force now (it changes when a plug-in CA Secret is applied)."""
        return self.ca.authority(self.push.mesh.trust_domain)
