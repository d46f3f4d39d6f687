"""A control plane on the scale benchmark's mesh, connected proxies included, that makes random
changes of every kind and checks every proxy's pushed resources against translation from scratch
(`Mesh.check`). `tests/controlplane/test_incremental.py` runs a short sequence; `scope_soak.py`
keeps it up for minutes. In-process, no xDS, no Envoy.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

from scale_mesh import PORT, Instance, Topology

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import own_shape
from pilotfish.translate.affected import holds_peer_table, peer_table_changed
from pilotfish.translate.generate import generate
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import ENDPOINT, RESOURCE_TYPES
from pilotfish.xds.resources import Snapshot

SERVICES, PROXIES, KINDS = 60, 60, 23
LOCALITIES = ("region1.zone1", "region1.zone2", "region2.zone3")
MESH_RETRIES = (
    "    defaultHttpRetryPolicy: {attempts: 3, retryOn: 5xx}\n"
    "    defaultInboundHttpRetryPolicy: {}\n"
)
"""The mesh's default retry policies (`change(9)` sets and unsets them in turn)."""
"""Every instance (and so its proxy) is in one of these (`istio-locality`), so that the
locality rules of `change(21)` give proxies of one namespace different endpoints."""


def _located(instances: list[Instance]) -> list[Instance]:
    return [
        replace(i, labels={**i.labels, "istio-locality": LOCALITIES[n % len(LOCALITIES)]})
        for n, i in enumerate(instances)
    ]


_BYTES: dict[int, tuple[Any, bytes]] = {}
"""Serialised messages by identity, for one `Mesh.check` (cleared at its start: each check's
from-scratch messages are new, and keeping them grew a soak by ~18 MB a change)."""


def _bytes(message: Any) -> bytes:
    known = _BYTES.get(id(message))
    if known is None or known[0] is not message:
        known = _BYTES[id(message)] = (message, message.SerializeToString(deterministic=True))
    return known[1]


def _dump(resources: Any) -> dict[str, dict[str, bytes]]:
    return {t: {n: _bytes(m) for n, m in resources[t].items()} for t in RESOURCE_TYPES}


def _pushed(cp: ControlPlane, node_id: str) -> ProxyResources:
    shared, own = cp.generated[node_id]
    merged = own
    for part in reversed(shared):
        merged = part.merged(merged)
    return merged


def _rule(namespace: str, name: str, host: str, subset: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"spec:\n  host: {host}\n  subsets:\n  - name: {subset}\n"
        f"    labels:\n      version: {subset}\n"
    )


def _tcp_service(namespace: str, weight: int) -> str:
    """A TCP ServiceEntry every sidecar sees (an outbound TCP listener each), its subsets and a
    VirtualService splitting its `tcp` route: the listeners follow the route."""
    host = f"db.{namespace}.example"
    endpoints = "".join(
        f"  - address: 127.9.1.{i + 1}\n    labels: {{version: {v}}}\n"
        for i, v in enumerate(("a", "b"))
    )
    return (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        f"metadata:\n  name: db\n  namespace: {namespace}\n"
        f"spec:\n  hosts: [{host}]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
        f"  ports: [{{number: 27017, name: tcp, protocol: TCP}}]\n  endpoints:\n{endpoints}"
        "---\n"
        + _rule(namespace, "db", host, "a")
        + "  - name: b\n    labels:\n      version: b\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: db\n  namespace: {namespace}\n"
        f"spec:\n  hosts: [{host}]\n  tcp:\n  - route:\n"
        f"    - destination: {{host: {host}, subset: a}}\n      weight: {weight}\n"
        f"    - destination: {{host: {host}, subset: b}}\n      weight: {100 - weight}\n"
    )


_LOCALITY_RULES = (
    "  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 1}\n"
    "    loadBalancer:\n      localityLbSetting:\n"
    "        failover: [{from: region1, to: region2}]\n",
    "  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n        distribute:\n"
    "        - {from: 'region1/*', to: {'region1/zone1': 80, 'region2/*': 20}}\n",
    "  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 1}\n"
    "    loadBalancer:\n      localityLbSetting:\n"
    "        failoverPriority: [topology.kubernetes.io/region, version]\n",
)
"""`change(21)`'s rules (Istio's three kinds of locality setting)."""


def _host(cluster: str) -> str:
    """The service name of an outbound cluster (`outbound|port|subset|name.namespace...`)."""
    return cluster.split("|")[3].split(".")[0]


def _differ(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that are in one list and not the other (by name, then content)."""
    before, after = {r["name"]: r for r in old}, {r["name"]: r for r in new}
    return [
        r
        for name in before.keys() | after.keys()
        for r in (before.get(name), after.get(name))
        if r is not None and before.get(name) != after.get(name)
    ]


def _alone(
    proxy: Proxy, push: PushContext, translate: Callable[[Proxy], ProxyResources]
) -> ProxyResources:
    """`own_shape.own_part` as if no other sidecar were of the same shape."""
    return translate(proxy)


def _runs(rows: list[dict[str, Any]], app: str) -> bool:
    return any(r["labels"]["app"] == app for r in rows)


class Mesh:
    strict = True
    """Whether a change must be scoped as Istio scopes it (`check_eds_only`, the translation
    counts of some kinds); `scope_mesh_demand.DemandMesh` checks equality alone."""

    def __init__(self, tmp: Path, seed: int, proxies: int = PROXIES) -> None:
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.proxies = proxies  # more than SERVICES: workloads of several pods (own shapes)
        self.topo = Topology(SERVICES, proxies)
        self.cp = self.control_plane(tmp)
        self.cp.load_state()
        self.scaled: tuple[str, str, str] | None = None
        self.rows: list[dict[str, Any]] = []
        self.tcp = ""  # the namespace of the TCP service once `change(20)` made it
        self.mode = "ALLOW_ANY"  # the mesh config's outbound traffic policy
        self.mesh_retries = False  # whether the mesh config sets its default retry policies
        files = [("m.yaml", self.topo.manifest_yaml()), ("c.yaml", self.topo.config_yaml())]
        assert self.cp.apply(files).ok
        self.cp.connected = lambda: list(self.cp.proxies)
        self.set_instances()

    def set_instances(self, not_ready: int = -1) -> None:
        rows = [i.row() for i in _located(self.topo.instances(scaled=self.scaled))]
        if 0 <= not_ready < len(rows):
            rows[not_ready]["ready"] = False
        before = {n: self.cp.snapshots[n] for n in self.cp.proxies}
        holders = {n for n, parts in self.cp.generated.items() if holds_peer_table(parts[1])}
        previous = self.cp.push
        changed = self.cp.set_instances([instance_from_json(r) for r in rows])
        if not peer_table_changed(previous, self.cp.push):
            holders = set()  # the table TCP servers read clients from: its holders translated
        moved = {str(r["labels"]["app"]) for r in _differ(self.rows, rows)}
        # a service whose first instance comes or last goes changes the service accounts its
        # clusters name (secure naming): a full push, as in Istio
        accounts = all(_runs(self.rows, app) == _runs(rows, app) for app in moved)
        self.rows = rows
        if before and accounts and self.strict:
            self.check_eds_only(before, changed, moved, holders & set(before))
        elif before and self.strict:
            assert self.cp.regenerated == len(before), "service accounts changed: a full push"
        for instance in _located(self.topo.instances(scaled=self.scaled)):
            if instance.node_id not in self.cp.proxies:
                self.connect(instance)

    def control_plane(self, state_dir: Path) -> ControlPlane:
        return ControlPlane(state_dir)

    def connect(self, instance: Instance) -> None:
        """A proxy's first snapshot, as its xDS stream asks for it."""
        self.cp.snapshot_for_node(instance.node_id, instance.metadata(9000))

    def check_eds_only(
        self,
        before: dict[str, Snapshot],
        changed: dict[str, Snapshot],
        moved: set[str],
        holders: set[str],
    ) -> None:
        # endpoints moved, nothing else: an EDS-only push (Istio's incremental EDS), of the
        # clusters of the services that moved, to the proxies that have them; the holders of a
        # changed peer table (TCP servers under mutual TLS) alone are translated again
        assert self.cp.regenerated == len(holders), "an endpoint change translated proxies again"
        for node_id in set(before) - set(changed):  # a proxy not pushed holds none of them
            held = {_host(n) for n in self.cp.snapshots[node_id].resources(ENDPOINT).by_name}
            assert not held & moved, f"{node_id} sees {held & moved} and was not pushed"
        for node_id, snapshot in changed.items():
            if node_id in holders:
                continue
            old = before[node_id]
            for type_url in RESOURCE_TYPES:
                if type_url != ENDPOINT:
                    assert snapshot.version_of(type_url) == old.version_of(type_url), node_id
            differ = {
                name
                for name, found in snapshot.resources(ENDPOINT).by_name.items()
                if old.resources(ENDPOINT).by_name[name].version != found.version
            }
            hosts = {_host(name) for name in differ}
            seen = {_host(n) for n in snapshot.resources(ENDPOINT).by_name} & moved  # its Sidecar
            assert hosts == seen, f"{node_id}: endpoints of {hosts} pushed, {seen} moved"

    def apply(self, text: str) -> None:
        result = self.cp.apply([("change.yaml", text)])
        assert result.ok, [str(d) for d in result.diagnostics]

    def delete(self, kind: str, namespace: str, name: str) -> None:
        group = "networking.istio.io"
        key = (group, kind, namespace, name)
        _, deleted, missing = self.cp.store.preview_delete([key])
        if missing and not deleted:  # deleted by an earlier step: nothing to change
            return
        assert self.cp.delete([], [key]).ok

    def service(self) -> tuple[str, str]:
        return self.rng.choice(self.topo.names)

    def change(self, choice: int) -> str:
        """One change of kind `choice` (0 to KINDS - 1) on random objects; returns what it was."""
        ns, svc = self.service()
        other_ns, other = self.service()
        if choice == 0:
            self.apply(self.topo.virtual_service(ns, svc, self.rng.choice((10, 50, 70, 90))))
            if not self.tcp and self.strict:  # routes changed only: sidecars keep their own
                assert self.cp.regenerated == 0, "a VirtualService translated sidecars again"
        elif choice == 1:
            self.delete("VirtualService", ns, svc)
        elif choice == 2:
            policy = "  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n"
            self.apply(self.topo.destination_rule(ns, svc, policy))
        elif choice == 3:
            self.delete("DestinationRule", ns, svc)
        elif choice == 4:  # a namespace's own rule for another namespace's host
            self.apply(_rule(ns, f"x-{other}", f"{other}.{other_ns}.svc.cluster.local", "v9"))
        elif choice == 5:  # exportTo: only its own namespace
            self.apply(self.topo.destination_rule(ns, svc, "  exportTo: ['.']\n"))
        elif choice == 6:  # a wildcard rule in the root namespace
            self.apply(_rule("istio-system", f"wild-{ns}", f"'*.{ns}.svc.cluster.local'", "v3"))
        elif choice == 7:
            self.scaled = self.rng.choice(self.topo.workloads())
            self.set_instances()
        elif choice == 8:
            self.set_instances(not_ready=self.rng.randrange(self.proxies))
        elif choice == 9:
            # the mesh's default retry policies set (or unset) alone, then the outbound policy
            # (the flip alone, when it changes, translates no proxy's own part again)
            self.mesh_retries = not self.mesh_retries
            retries = MESH_RETRIES if self.mesh_retries else ""
            self.apply(self.topo.mesh_config(self.mode, retries))
            self.mode = self.rng.choice(("REGISTRY_ONLY", "ALLOW_ANY"))
            self.apply(self.topo.mesh_config(self.mode, retries))
        elif choice == 10:  # a VirtualService that matches on the caller's labels
            text = self.topo.virtual_service(ns, svc).replace(
                "        end-user:\n          exact: jason\n",
                "        end-user:\n          exact: jason\n      sourceLabels:\n"
                "        version: v2\n",
            )
            self.apply(text)
        elif choice == 13:  # an AuthorizationPolicy: only its namespace's proxies are translated
            self.apply(
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                f"metadata:\n  name: deny-admin\n  namespace: {ns}\n"
                "spec:\n  action: DENY\n  rules:\n  - to:\n    - operation:\n"
                "        paths: [/admin]\n"
            )
            assert not self.strict or self.cp.regenerated < len(self.cp.proxies), "not scoped"
        elif choice == 14:  # a VirtualService exported to its own namespace only
            vs = self.topo.virtual_service(ns, svc, self.rng.choice((20, 40)))
            self.apply(vs.replace("spec:\n", "spec:\n  exportTo: ['.']\n", 1))
        elif choice == 15:  # a namespace that sees only itself, then another's rule for its host
            self.apply(
                "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
                f"metadata:\n  name: default\n  namespace: {ns}\n"
                "spec:\n  egress:\n  - hosts: ['./*']\n"
            )
            vs = self.topo.virtual_service(other_ns, f"for-{svc}", 30)
            self.apply(vs.replace(f"for-{svc}", f"{svc}.{ns}.svc.cluster.local"))
        elif choice == 16:  # a gateway-only VirtualService and a Telemetry in one namespace
            gateway = self.topo.virtual_service(ns, svc, 60).replace(
                "spec:\n", "spec:\n  gateways: [gw]\n", 1
            )
            self.apply(gateway.replace(f"name: {svc}\n", f"name: gw-only-{svc}\n", 1))
            self.apply(
                "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
                f"metadata:\n  name: logs\n  namespace: {ns}\n"
                "spec:\n  accessLogging:\n  - providers:\n    - name: envoy\n"
            )
        elif choice == 17:  # a ServiceEntry for an external host, exported to its namespace
            self.apply(
                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                f"metadata:\n  name: ext-{svc}\n  namespace: {ns}\n"
                f"spec:\n  hosts: [{svc}.example.com]\n  location: MESH_EXTERNAL\n"
                f"  exportTo: ['{self.rng.choice(('.', '*'))}']\n  resolution: STATIC\n"
                "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
                f"  endpoints: [{{address: 127.9.0.{self.rng.randrange(2, 250)}}}]\n"
            )
        elif choice == 20:  # a TCP service, then its route changed alone (its listeners follow)
            self.tcp = self.tcp or ns
            self.apply(_tcp_service(self.tcp, 100))
            self.apply(_tcp_service(self.tcp, self.rng.choice((10, 30, 60))))
        elif choice == 18:  # an EnvoyFilter (namespace-scoped, as Istio scopes its pushes)
            self.apply(
                "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n"
                f"metadata:\n  name: lua\n  namespace: {ns}\n"
                "spec:\n  configPatches:\n  - applyTo: HTTP_FILTER\n"
                "    match: {context: SIDECAR_INBOUND}\n"
                "    patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.lua}}\n"
            )
        elif choice == 19:  # a Workload of the manifest scaled: no proxy is translated again
            ns, svc, version = self.rng.choice(self.topo.workloads())
            self.apply(
                "apiVersion: pilotfish.io/v1alpha1\nkind: Workload\n"
                f"metadata:\n  name: {svc}-{version}\n  namespace: {ns}\n"
                f"  labels:\n    app: {svc}\n    version: {version}\n"
                f"spec:\n  replicas: {self.rng.randrange(2, 5)}\n  command: [sleep, infinity]\n"
                f"  ports: [{PORT}]\n"
            )
            assert not self.strict or self.cp.regenerated == 0, "replicas translated proxies"
        elif choice == 21:  # locality load balancing: failover (outlier detection) or distribute
            self.apply(self.topo.destination_rule(ns, svc, self.rng.choice(_LOCALITY_RULES)))
        elif choice == 12:  # PeerAuthentication: mTLS off in one namespace (auto mTLS follows)
            self.apply(
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                f"metadata:\n  name: default\n  namespace: {ns}\n"
                "spec:\n  mtls:\n    mode: DISABLE\n"
            )
        elif choice == 22:  # a rule with a workloadSelector, then changed: its pods' alone
            self._selected_rule(ns, svc, other_ns, other)
        else:  # a Sidecar narrowing one namespace's egress
            self.apply(
                "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
                f"metadata:\n  name: default\n  namespace: {ns}\n"
                f"spec:\n  egress:\n  - hosts: ['./*', '{other_ns}/*']\n"
            )
        return f"change {choice} ({ns}/{svc}, {other_ns}/{other})"

    def _selected_rule(self, ns: str, svc: str, other_ns: str, other: str) -> None:
        """A DestinationRule of `ns` for `other`'s host that selects `svc`'s pods (a subset and
        a balancer of its own), then its balancer changed: the first may reach the namespace's
        other proxies (a selected rule hides the service namespace's from them), the second
        only the pods it selects."""
        text = _rule(ns, f"sel-{svc}", f"{other}.{other_ns}.svc.cluster.local", "v8").replace(
            "spec:\n", f"spec:\n  workloadSelector:\n    matchLabels: {{app: {svc}}}\n", 1
        )
        policy = "  trafficPolicy:\n    loadBalancer:\n      simple: {}\n"
        self.apply(text + policy.format("RANDOM"))
        in_namespace = sum(p.namespace == ns for p in self.cp.proxies.values())
        assert not self.strict or self.cp.regenerated <= in_namespace, "not scoped"
        self.apply(text + policy.format("ROUND_ROBIN"))
        selected = sum(
            p.namespace == ns and p.label_map.get("app") == svc for p in self.cp.proxies.values()
        )
        assert not self.strict or self.cp.regenerated == selected, "not scoped to its pods"

    def check(self, what: str) -> None:
        _BYTES.clear()
        fresh = self.cp.push_context()
        assert self.cp.proxies, "no proxy connected"
        for node_id in sorted(self.cp.proxies):
            proxy = self.cp.proxies[node_id]
            with patch.object(own_shape, "own_part", _alone):  # each translated as itself
                expected = generate(proxy, fresh)
            pushed = _pushed(self.cp, node_id)
            assert _dump(pushed) == _dump(expected), f"{what}: {node_id} differs from scratch"
            notes = sorted(str(d) for d in expected.diagnostics)
            assert sorted(str(d) for d in self.cp.translation_notes[node_id]) == notes, what
            snapshot = self.cp.snapshots[node_id]
            for type_url in RESOURCE_TYPES:
                held = {n: r.any_bytes for n, r in snapshot.resources(type_url).by_name.items()}
                assert sorted(held) == sorted(expected[type_url]), f"{what}: {node_id} names"
