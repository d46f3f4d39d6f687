"""The isolated local mode (`pilotfish up --isolated`, root): each workload instance is a pod in
its own network namespace on the mesh's bridge (`pilotfish.capture.netns`), with Istio's capture
rules (`pilotfish.capture.rules`) unless it runs without a sidecar or is a gateway's pod (its
Envoy is the pod, its ports its listeners: Istio injects no capture into one), and kube-proxy's
service rules (`pilotfish.capture.services`) in every pod.

Names resolve through each pod's /etc/hosts, as Kubernetes DNS resolves a service: a service's
names (`reviews`, in its own namespace; `reviews.default`, `reviews.default.svc`,
`reviews.default.svc.cluster.local` everywhere) map to its cluster IP (the control plane's
`pilotfish.registry.cluster_ips`, handed over with the manifest); a service without one
(headless) maps to the address of one of its instances (the first by name). A pod with a sidecar
has its connection to a cluster IP captured: the sidecar knows the service from the address
(`<VIP>_<port>` for TCP, the port's HTTP listener and route configuration for HTTP) and balances
it over the service's endpoints with mTLS. What the sidecar itself sends to a cluster IP (a
DestinationRule's `PASSTHROUGH`), and every connection of a pod without a sidecar, is DNATed to
one of the service's ready instances by the pod's KUBE-SERVICES chains, as kube-proxy would:
`sync_services` keeps them in step with the ready instances the launcher reports (scale,
readiness, deletion), replacing each pod's chains in one commit when they change.

A pod with DNS capture (`ISTIO_META_DNS_CAPTURE: "true"` in the mesh's `proxyMetadata` or its
`proxy.istio.io/config`) also resolves the ServiceEntry hosts it sees (exportTo) that have one
address: their own (`addresses: [198.51.100.1]`) or the one Istio allocates
(`registry.cluster_ips`, `240.240.0.1`), as Istio's agent answers them; other names of such
hosts are left to the pod's resolver, as the agent forwards them upstream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.capture import netns
from pilotfish.capture.rules import CaptureError, nat_rules, settings_for
from pilotfish.capture.services import ServiceRoute, service_routes, service_rules
from pilotfish.config.hosts import CLUSTER_DOMAIN, exported_to
from pilotfish.model.proxy import Proxy, is_gateway_pod
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.types import WorkloadInstance
from pilotfish.registry.workloads import WorkloadSpec

INTERCEPTION_MODE = "REDIRECT"
SERVICES_HOOKS = ("OUTPUT",)  # after Istio's `-j ISTIO_OUTPUT`: see `capture.services`
log = logging.getLogger("pilotfish.up")


@dataclass
class IsolatedPods:
    bridge: netns.MeshBridge
    hosts: dict[str, str] = field(default_factory=dict)  # netns -> /etc/hosts text
    cluster_ips: dict[str, str] = field(default_factory=dict)  # service hostname -> its VIP
    entries: list[dict[str, Any]] = field(default_factory=list)  # `cluster_ips.entry_addresses`
    routes: tuple[ServiceRoute, ...] = ()  # kube-proxy's view: VIP:port -> ready endpoints
    services: dict[str, tuple[str, str]] = field(default_factory=dict)  # netns -> (ip, rules)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # pods' service chains

    @classmethod
    def for_mesh(cls, block: int, state_dir: Path) -> IsolatedPods:
        return cls(netns.MeshBridge(block, str(state_dir.resolve())))

    @property
    def address(self) -> str:
        return self.bridge.address

    def netns_name(self, pod: str) -> str:
        return self.bridge.netns_name(pod)

    async def create(self) -> None:
        netns.require_root("pilotfish up --isolated")
        await asyncio.to_thread(self.bridge.create)

    async def remove(self) -> None:
        await asyncio.to_thread(self.bridge.remove)

    async def add_pod(self, manifest: Manifest, addresses: dict[str, str], proxy: Proxy) -> None:
        """The pod's namespace, address, /etc/hosts and (with a sidecar, not a gateway's pod)
        capture rules.
        Raises CaptureError (a bad `traffic.sidecar.istio.io/*` annotation, a failed step)."""
        workload = next(
            w
            for w in manifest.workloads
            if (w.name, w.namespace) == (proxy.workload, proxy.namespace)
        )
        captured = workload.sidecar and not is_gateway_pod(dict(workload.labels))
        rules = nat_rules(settings_for(dict(workload.annotations))) if captured else None
        ns = self.netns_name(proxy.pod_name)
        hosts = hosts_file(
            manifest,
            addresses,
            proxy.instance,
            proxy.namespace,
            self.cluster_ips,
            self._entries(manifest, workload),
        )
        self.hosts[ns] = hosts
        async with self.lock:
            services = service_rules(self.routes, SERVICES_HOOKS, exclude=proxy.ip)
            await asyncio.to_thread(
                netns.add_pod, self.bridge, ns, proxy.ip, hosts, rules, services
            )
            self.services[ns] = (proxy.ip, service_rules(self.routes, exclude=proxy.ip))

    async def remove_pod(self, name: str) -> None:
        ns = self.netns_name(name)
        self.hosts.pop(ns, None)
        async with self.lock:
            self.services.pop(ns, None)
            await asyncio.to_thread(netns.remove_pod, ns)

    async def sync_services(
        self, manifest: Manifest, ready: Sequence[Mapping[str, object]]
    ) -> None:
        """Make every pod's KUBE-SERVICES chains route the services' cluster IPs to the `ready`
        instances (the launcher's report rows); a pod whose chains change gets them replaced in
        one `iptables-restore --noflush` commit."""
        instances = [_ready_instance(row) for row in ready]
        routes = service_routes(manifest.services, self.cluster_ips, instances)
        if routes == self.routes:
            return
        async with self.lock:
            self.routes = routes
            for ns, (ip, applied) in list(self.services.items()):
                text = service_rules(routes, exclude=ip)
                if text == applied:
                    continue
                try:
                    await asyncio.to_thread(netns.update_services, ns, text)
                except CaptureError as exc:  # a pod being removed
                    log.warning("%s: service rules: %s", ns, exc)
                    continue
                if ns in self.services:
                    self.services[ns] = (ip, text)

    async def refresh_hosts(self, manifest: Manifest, addresses: dict[str, str]) -> None:
        """Rewrite the /etc/hosts of running pods whose names changed."""
        for workload in manifest.workloads:
            for instance in workload.instance_names():
                await self._refresh(
                    f"{instance}.{workload.namespace}",
                    hosts_file(
                        manifest,
                        addresses,
                        instance,
                        workload.namespace,
                        self.cluster_ips,
                        self._entries(manifest, workload),
                    ),
                )

    def _entries(self, manifest: Manifest, workload: WorkloadSpec) -> list[dict[str, Any]]:
        """The ServiceEntry addresses a pod of `workload` resolves: all, with DNS capture."""
        metadata = workload.proxy_metadata.over(manifest.mesh.proxy)
        return self.entries if workload.sidecar and metadata.dns_capture else []

    async def _refresh(self, name: str, text: str) -> None:
        ns = self.netns_name(name)
        if ns in self.hosts and self.hosts[ns] != text:
            self.hosts[ns] = text
            await asyncio.to_thread(netns.write_hosts, ns, text)


def check_annotations(manifest: Manifest) -> None:
    """Raises CaptureError naming the workload for a bad `traffic.sidecar.istio.io/*` value."""
    for workload in manifest.workloads:
        try:
            settings_for(dict(workload.annotations))
        except CaptureError as exc:
            raise CaptureError(f"Workload {workload.namespace}/{workload.name}: {exc}") from None


def hosts_file(
    manifest: Manifest,
    addresses: dict[str, str],
    instance: str,
    namespace: str,
    cluster_ips: Mapping[str, str],
    entries: Sequence[Mapping[str, Any]] = (),
) -> str:
    """/etc/hosts of pod `instance` in `namespace`; `addresses` maps `NAME.NAMESPACE` pod keys
    to their IPs, `cluster_ips` service hostnames to their VIPs (a service without one: an
    instance's address), `entries` ServiceEntry hosts with their address (`cluster_ips.
    entry_addresses`: a pod with DNS capture lists those exported to its namespace)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    own = addresses.get(f"{instance}.{namespace}")
    if own:
        lines.append(f"{own}\t{instance}")
    for service in sorted(manifest.services, key=lambda s: (s.namespace, s.name)):
        if service.from_service_entry or not service.selector:
            continue
        ip = cluster_ips.get(service.hostname) or _first_instance_ip(
            manifest, addresses, service.namespace, dict(service.selector)
        )
        if ip is None:
            continue
        base = f"{service.name}.{service.namespace}"
        names = [f"{base}.svc.{CLUSTER_DOMAIN}", f"{base}.svc", base]
        if service.namespace == namespace:
            names.append(service.name)
        lines.append(f"{ip}\t{' '.join(names)}")
    listed: set[str] = set()
    for entry in entries:
        host, export = str(entry["host"]), tuple(entry.get("exportTo") or ())
        if host not in listed and exported_to(export, str(entry["namespace"]), namespace):
            listed.add(host)
            lines.append(f"{entry['address']}\t{' '.join([host, *_searched(host, namespace)])}")
    return "\n".join(lines) + "\n"


def _searched(host: str, namespace: str) -> list[str]:
    """The shorter names a pod's resolver (search `<ns>.svc.cluster.local svc.cluster.local
    cluster.local`) would expand to `host`, which the hosts file must list itself."""
    domains = (f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN)
    return [host[: -len(d) - 1] for d in domains if host.endswith(f".{d}")]


def _first_instance_ip(
    manifest: Manifest, addresses: dict[str, str], namespace: str, selector: dict[str, str]
) -> str | None:
    keys = sorted(
        f"{instance}.{w.namespace}"
        for w in manifest.workloads
        if w.namespace == namespace and all(dict(w.labels).get(k) == v for k, v in selector.items())
        for instance in w.instance_names()
    )
    found = [addresses[k] for k in keys if k in addresses]
    return found[0] if found else None


def _ready_instance(row: Mapping[str, object]) -> WorkloadInstance:
    """A ready instance from the launcher's report row (`Mesh.ready_instances`)."""
    labels = row.get("labels")
    pairs = labels.items() if isinstance(labels, dict) else ()
    return WorkloadInstance(
        name=str(row["name"]),
        workload=str(row["workload"]),
        namespace=str(row["namespace"]),
        address=str(row["address"]),
        labels=tuple(sorted((str(k), str(v)) for k, v in pairs)),
    )
