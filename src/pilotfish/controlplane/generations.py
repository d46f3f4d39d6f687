"""`ProxyGenerations`: each connected proxy's translated parts and published snapshot.

The part of the control plane that turns one push context into proxies' snapshots: a node
connecting (`snapshot_for_node`), a change regenerating the proxies it affects (`_regenerate`,
reusing a sidecar's own part when only routes moved: `generate.with_new_routes`), an endpoint
move (`_regenerate_endpoints`, Istio's incremental EDS), on-demand clusters (`demand`) and
virtual hosts (`demand_hosts`), and forgetting a proxy whose stream closed. Every snapshot is
checked before it is published in the `SnapshotCache` shared with the xDS server (and a full
translation says which AuthorizationPolicies apply: `authz_log`). `ControlPlane` (core) owns
the config, the registry and the push context these read; this module must not import it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pilotfish.config.objects import Diagnostic
from pilotfish.controlplane.assembly import SharedNames, SnapshotAssembly
from pilotfish.controlplane.authz_log import log_applied
from pilotfish.model.node import proxy_from_node
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import on_demand, on_demand_routes, on_demand_since
from pilotfish.translate.generate import (
    generate_parts,
    with_new_endpoints,
    with_new_outbound_policy,
    with_new_routes,
)
from pilotfish.translate.http_proxy_part import whole_parts
from pilotfish.translate.names import HTTP_PROXY_ROUTE_CONFIG, names_outbound_host
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, ENDPOINT, ROUTE
from pilotfish.xds.cache import NodeSnapshots, SnapshotCache
from pilotfish.xds.resources import Snapshot

log = logging.getLogger("pilotfish.controlplane")
Published = tuple[ProxyResources, frozenset[str], tuple[ProxyResources, ...], dict[str, str]]
"""A proxy's route part, the hosts it asked for, what it is sent of the part, the answers."""


class ProxyGenerations:
    """Per-proxy generation state; `push` and `on_demand_clusters` are the subclass's."""

    push: PushContext
    on_demand_clusters: bool

    def __init__(self, cache: SnapshotCache | None) -> None:
        self.demanded: dict[str, frozenset[str]] = {}  # node id -> clusters it asked for
        self.asked_hosts: dict[str, frozenset[str]] = {}  # node id -> VHDS names it asked for
        self.vhds_answers: dict[str, dict[str, str]] = {}  # node id -> VHDS name -> answer
        self._published: dict[str, Published] = {}  # node id -> its route part as published
        self._held: dict[str, on_demand_routes.Held] = {}  # node id -> hosts of its answers
        self._narrowing: dict[str, on_demand_since.Narrowing | None] = {}  # node id -> its last
        self.stale_routes: set[str] = set()
        self.stale_endpoints: set[str] = set()
        """On-demand sidecars an endpoint change left alone (sent nothing of the services it moved:
        `_sent_none_of`; `stale_routes`: with on-demand routes, left out of a VirtualService change
        whose virtual hosts they do not hold, `not_holding`): their published snapshot is the new
        push context's, their outbound block (route) part older; rebuilt before they ask more."""
        self.assembly = SnapshotAssembly()  # snapshots of checked parts, serialised once
        self.proxies: dict[str, Proxy] = {}
        self.cache = cache if cache is not None else SnapshotCache()
        """Where snapshots are published: shared with the xDS server, which pushes them."""
        self.generation_errors: dict[str, list[str]] = {}
        self.translation_notes: dict[str, list[Diagnostic]] = {}  # what translation warned of
        self.generated: dict[str, tuple[tuple[ProxyResources, ...], ProxyResources]] = {}
        """node id -> (shared parts, own part) of the last pushed resources (config_dump)."""
        self.connected: Callable[[], list[str]] = lambda: list(self.proxies)  # set by the server
        self._made_from: dict[str, PushContext] = {}  # node id -> push context of its snapshot
        self.scope_pushes = True  # False: every change regenerates every proxy (benchmarks)
        self.regenerated = 0  # proxies the last config change translated again
        self._connecting = threading.Lock()  # a connecting node's generation, or a catch-up

    @property
    def snapshots(self) -> NodeSnapshots:
        """The published snapshot of each proxy this control plane knows (read only)."""
        return NodeSnapshots(self.cache, self.proxies)

    def snapshot_for_node(self, node_id: str, metadata: dict[str, Any]) -> Snapshot | None:
        """Called by the xDS server (in its generation thread) when a node connects: remember it,
        build its snapshot; built again after a change adopted meanwhile (the API's thread)."""
        try:
            proxy = proxy_from_node(node_id, metadata)
        except ValueError as exc:
            log.warning("refusing node %s: %s", node_id, exc)
            return None
        with self._connecting:
            self.proxies[node_id] = proxy
            while True:
                push = self.push
                snapshot = self._generate(node_id, proxy, push)
                if snapshot is not None:
                    self.cache.set(node_id, snapshot)
                if self.push is push:
                    break
        return self.cache.get(node_id)  # a failed generation keeps the last good one

    def _generate(
        self, node_id: str, proxy: Proxy, push: PushContext | None = None
    ) -> Snapshot | None:
        push = push or self.push
        self._made_from[node_id] = push
        self.stale_routes.discard(node_id)
        self.stale_endpoints.discard(node_id)
        shared, own = generate_parts(proxy, push)
        log_applied(proxy, push)
        return self._checked(node_id, shared, own)

    def _checked(
        self,
        node_id: str,
        shared: tuple[ProxyResources, ...],
        own: ProxyResources,
        same_names: bool = False,
    ) -> Snapshot | None:
        """The node's snapshot composed of its parts, checked (None if invalid; the problems
        are kept for `proxy-status`); `same_names` as `SnapshotAssembly.compose`."""
        notes = [d for part in shared for d in part.diagnostics]
        self.translation_notes[node_id] = notes + list(own.diagnostics)
        published = self._on_demand_parts(node_id, shared, own)
        snapshot, problems = self.assembly.compose(node_id, shared, own, same_names, published)
        if snapshot is None:
            self.generation_errors[node_id] = problems
            log.error("not pushing an invalid snapshot to %s: %s", node_id, "; ".join(problems))
            return None
        self.generation_errors.pop(node_id, None)
        unchanged = published is None and snapshot == self.snapshots.get(node_id)
        if not unchanged or node_id not in self.generated:  # narrowed: the same snapshot
            self.generated[node_id] = (shared, own)  # may come of new parts (`demand` reads)
        return snapshot

    def _on_demand_parts(
        self, node_id: str, shared: tuple[ProxyResources, ...], own: ProxyResources
    ) -> tuple[tuple[ProxyResources, ...], ...] | None:
        """What an on-demand sidecar is sent of its shared parts, in pieces per part: the
        clusters it asked for (`translate.on_demand`) and, with on-demand routes, the virtual
        hosts (`translate.on_demand_routes.published_pieces`); None for every other proxy."""
        proxy = self.proxies.get(node_id)
        if proxy is None or not on_demand.applies(proxy, self.push):
            return None
        clusters, last = self.demanded.get(node_id, frozenset()), self._narrowing.get(node_id)
        parts, self._narrowing[node_id] = on_demand_since.narrowed_since(
            last, shared, own, clusters, self.push
        )
        sent: list[tuple[ProxyResources, ...]] = [(part,) for part in parts]
        if not on_demand_routes.applies(proxy, self.push):
            return tuple(sent)
        asked = self.asked_hosts.get(node_id, frozenset())
        for index, part in enumerate(parts):
            if HTTP_PROXY_ROUTE_CONFIG not in part[ROUTE]:
                continue
            known = self._published.get(node_id)  # the same route part (an endpoint change)
            if known is None or known[0] is not part or known[1] != asked:
                before = (known[0], known[2]) if known is not None and known[1] == asked else None
                made = on_demand_routes.published_pieces(part, asked, self.push, before)
                if known is None or known[3] != made[1] or node_id not in self._held:
                    self._held[node_id] = on_demand_routes.held_hosts(made[1])  # (answers as
                known = self._published[node_id] = (part, asked, *made)  # before: the same)
            sent[index], self.vhds_answers[node_id] = known[2], known[3]
        return tuple(sent)

    def demand(self, node_id: str, cluster_names: tuple[str, ...]) -> Snapshot | None:
        """Envoy asked for clusters it lacks (on-demand CDS): add them (and those their routes
        name with them) to the node's scope and publish its new snapshot. Called
        by the xDS server in its generation thread; returns the node's snapshot."""
        with self._connecting:
            proxy = self.proxies.get(node_id)
            parts = self._fresh_parts(node_id, proxy) if proxy is not None else None
            if parts is None:
                return self.cache.get(node_id)
            clusters = on_demand.clusters_for(cluster_names, parts[0], self.push)
            known = self.demanded.get(node_id, frozenset())
            if clusters <= known:
                return self.cache.get(node_id)
            self.demanded[node_id] = known | clusters
            snapshot = self._checked(node_id, *parts)
            if snapshot is not None:
                self.cache.set(node_id, snapshot)
        return self.cache.get(node_id)

    def not_holding(
        self,
        node_ids: Iterable[str],
        hosts: frozenset[str],
        previous: PushContext,
        changed: frozenset[tuple[str, str]],
    ) -> set[str]:
        """Of `node_ids`, the sidecars with on-demand routes, built from `previous`, holding no
        virtual host of `hosts` (`on_demand_routes.holds_any`): a change of the
        VirtualServices of those hosts changes nothing they were sent (`stale_routes`). What
        translation noted about the `changed` objects ((kind, namespace/name)) is dropped
        from their notes: it was about the old versions."""
        found = set()
        push, made_from, held_by, notes_of = self.push, self._made_from, self._held, {}
        on = push.mesh.on_demand_routes and push.mesh.on_demand_clusters
        for node_id in node_ids if on else ():
            proxy = self.proxies.get(node_id)
            if proxy is None or made_from.get(node_id) is not previous:
                continue
            held = held_by.get(node_id)
            if held is not None and held.holds_any(hosts):
                continue
            if on_demand_routes.applies(proxy, push):  # not captured either
                found.add(node_id)
                notes = self.translation_notes.get(node_id, [])
                notes_of[node_id] = [n for n in notes if (n.kind, n.name) not in changed]
        self.translation_notes.update(notes_of)
        self.stale_routes |= found
        return found

    def _fresh_parts(
        self, node_id: str, proxy: Proxy
    ) -> tuple[tuple[ProxyResources, ...], ProxyResources] | None:
        """The node's parts, translated again if its route part is stale (`stale_routes`),
        with the current outbound block if that is (`stale_endpoints`)."""
        if node_id in self.stale_routes:
            self._generate(node_id, proxy)
        elif node_id in self.stale_endpoints:
            self.stale_endpoints.discard(node_id)
            parts = self.generated.get(node_id)
            updated = with_new_endpoints(proxy, self.push, parts) if parts else None
            if updated is None:
                self._generate(node_id, proxy)
            else:
                self.generated[node_id] = updated
        return self.generated.get(node_id)

    def current_parts(
        self, node_id: str
    ) -> tuple[tuple[ProxyResources, ...], ProxyResources] | None:
        """The node's parts (shared, own) as of the current push context, route configurations
        whole (what a config dump shows); None for a node not known."""
        with self._connecting:
            proxy = self.proxies.get(node_id)
            parts = self._fresh_parts(node_id, proxy) if proxy is not None else None
            return (whole_parts(proxy, self.push, parts[0]), parts[1]) if proxy and parts else None

    def demand_hosts(self, node_id: str, aliases: tuple[str, ...]) -> dict[str, str]:
        """Envoy asked for virtual hosts by Host (VHDS `http_proxy/<host>`): add them to the
        node's scope and publish its new snapshot. Returns, for each alias, the name of the
        virtual host answering it ("" for none: not a proxy with on-demand routes, or over
        `MAX_HOSTS_PER_PROXY`). Called by the xDS server in its generation thread."""
        with self._connecting:
            proxy = self.proxies.get(node_id)
            if proxy is None or not on_demand_routes.applies(proxy, self.push):
                return {}
            parts = self._fresh_parts(node_id, proxy)
            if parts is None:
                return {}
            known = self.asked_hosts.get(node_id, frozenset())
            room = max(0, on_demand_routes.MAX_HOSTS_PER_PROXY - len(known))
            new = [a for a in dict.fromkeys(aliases) if a not in known][:room]
            if new:
                self.asked_hosts[node_id] = known | frozenset(new)
                snapshot = self._checked(node_id, *parts)
                if snapshot is not None:
                    self.cache.set(node_id, snapshot)
            answers = self.vhds_answers.get(node_id, {})
            return {a: answers.get(a, "") for a in aliases}

    def regenerate(
        self, node_ids: list[str], changed_at: float | None = None
    ) -> dict[str, Snapshot]:
        """New snapshots for the given nodes, published; returns only those that changed.
        `changed_at` (monotonic): when the change reached the control plane (`SnapshotCache`)."""
        changed = self._regenerate(node_ids)
        self.cache.set_many(changed, changed_at)
        return changed

    def _regenerate(
        self,
        node_ids: list[str],
        routes_from: PushContext | None = None,
        policy_from: PushContext | None = None,
    ) -> dict[str, Snapshot]:
        """The changed snapshots of the given nodes, not published yet. `routes_from`: only
        VirtualServices and DestinationRules changed since that push context, so a sidecar
        whose snapshot was built from it takes its new shared parts and keeps its own
        (`generate.with_new_routes`); `policy_from`: only the mesh's outbound traffic policy
        changed since that one, so such a sidecar keeps its own part but its HTTP proxy
        listeners (`generate.with_new_outbound_policy`); the others are translated again."""
        changed: dict[str, Snapshot] = {}
        names = SharedNames()
        translated = 0
        for node_id in node_ids:
            proxy = self.proxies.get(node_id)
            if proxy is None:
                continue
            parts = self.generated.get(node_id)
            updated = None
            made_from = self._made_from.get(node_id)
            if routes_from is not None and parts and made_from is routes_from:
                updated = with_new_routes(proxy, self.push, routes_from, parts)
            elif policy_from is not None and parts and made_from is policy_from:
                updated = with_new_outbound_policy(proxy, self.push, parts)
            if updated is None or parts is None:
                translated += 1
                snapshot = self._generate(node_id, proxy)
            else:
                self._made_from[node_id] = self.push
                self.stale_routes.discard(node_id)
                self.stale_endpoints.discard(node_id)  # its block is taken from the push
                same = names.same(parts[0], updated[0])
                snapshot = self._checked(node_id, *updated, same_names=same)
            if snapshot is not None and snapshot != self.snapshots.get(node_id):
                changed[node_id] = snapshot
        if routes_from is not None or policy_from is not None:
            self.regenerated = translated
        return changed

    def catch_up(self, changed_at: float | None = None) -> dict[str, Snapshot]:
        """Changed snapshots of proxies whose last one was built from an older push context:
        those that connected while a change was being translated in a worker thread."""
        with self._connecting:  # after a connecting node's generation: it is seen here
            push = self.push
            late = [n for n in list(self.proxies) if self._made_from.get(n) is not push]
            return self.regenerate(late, changed_at)

    def _regenerate_endpoints(
        self, nodes: list[str], previous: PushContext, moved: frozenset[str]
    ) -> dict[str, Snapshot]:
        """Only the endpoints of the services `moved` (hostnames) moved (Istio's incremental
        EDS): a sidecar whose snapshot was built from `previous` gets its outbound block from
        the new push context and keeps every other part (an on-demand sidecar sent no endpoint
        of those services keeps its published snapshot too: `_sent_none_of`); a gateway, or a
        proxy built from an older push context, is translated again."""
        changed: dict[str, Snapshot] = {}
        translate: list[str] = []
        names = SharedNames()
        for node_id in nodes:
            proxy, parts = self.proxies[node_id], self.generated.get(node_id)
            if parts is None or self._made_from.get(node_id) is not previous:
                translate.append(node_id)
                continue
            if self._sent_none_of(node_id, proxy, moved):
                self._made_from[node_id] = self.push
                self.stale_endpoints.add(node_id)  # its block is taken anew when it asks
                continue
            updated = with_new_endpoints(proxy, self.push, parts)
            if updated is None:
                translate.append(node_id)
                continue
            self._made_from[node_id] = self.push
            self.stale_endpoints.discard(node_id)
            same = names.same(parts[0], updated[0])
            snapshot = self._checked(node_id, *updated, same_names=same)
            if snapshot is not None and snapshot != self.snapshots.get(node_id):
                changed[node_id] = snapshot
        self.regenerated = len(translate)  # fully translated: the others took new endpoints
        changed.update(self._regenerate(translate))
        return changed

    def _sent_none_of(self, node_id: str, proxy: Proxy, moved: frozenset[str]) -> bool:
        """Whether `node_id` is an on-demand sidecar whose published snapshot (valid, no
        problem noted) holds no cluster or endpoint assignment of the services `moved`: its
        block narrowed to what it asked for is then the same resources in the new push
        context (an endpoint change rebuilds only the assignments of `moved`), so composing
        and checking it again would give the same snapshot."""
        if not on_demand.applies(proxy, self.push) or node_id in self.generation_errors:
            return False
        snapshot = self.cache.get(node_id)
        if snapshot is None:
            return False
        for type_url in (CLUSTER, ENDPOINT):
            if names_outbound_host(snapshot.resources(type_url).by_name, moved):
                return False
        return True

    def live_nodes(self) -> list[str]:
        """Proxies with an open xDS stream; the others are forgotten (a reconnecting Envoy is
        known again from its node metadata, and gets a fresh snapshot)."""
        connected = set(self.connected())
        for node_id in [n for n in list(self.proxies) if n not in connected]:
            self.forget(node_id)
        return sorted(list(self.proxies))

    def forget(self, node_id: str) -> None:
        """A proxy whose last xDS stream closed: keep nothing of it (memory stays bounded by
        the proxies connected, whatever node ids clients invent); its published snapshot is
        kept a while for a reconnect (`SnapshotCache.release`)."""
        self.cache.release(node_id)
        self.assembly.forget(node_id)
        for table in (
            self.proxies, self.generated, self.translation_notes, self.generation_errors,
            self._made_from, self.demanded, self.asked_hosts, self.vhds_answers,
            self._published, self._held, self._narrowing,
        ):  # fmt: skip
            table.pop(node_id, None)
        self.stale_routes.discard(node_id)
        self.stale_endpoints.discard(node_id)
