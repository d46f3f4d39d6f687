"""Cluster IPs: the virtual address of each Kubernetes-shaped service, as the API server gives a
`v1 Service` its `spec.clusterIP` from the service range.

A mesh whose pods' traffic is captured (`up --isolated`) needs them: a pod resolves `reviews` to
the service's VIP, its iptables rules send the connection to its sidecar, and the sidecar knows
the service from the address it was dialled on (Istio's `<VIP>_<port>` outbound TCP listeners,
and `VIP`/`VIP:port` domains in the per-port HTTP route configurations). The range is a block of
the mesh's own pod network (`10.A.240.0/21`, see `pilotfish.local.network`): addresses that
exist only inside the mesh's namespaces, owned by no interface (a pod never sends a packet to
one: its capture rules redirect it to Envoy first).

Assignment is a pure function of the services and the range, so the control plane (translation)
and the launcher (the pods' /etc/hosts) compute the same answer: a `clusterIP` written in the
Service is kept (if inside the range it is reserved first); `clusterIP: None` (headless) gets
none; ServiceEntry hosts keep their own `addresses`; every other service gets the slot
`crc32(hostname)` picks in the range, or the next free one after it, in hostname order. A new
service can move an older one only when their slots collide and it sorts first (rare: the range
has 2046 addresses).

ServiceEntries get Istio's automatic addresses (its IP autoallocate controller, on by default
since Istio 1.25, `PILOT_ENABLE_IP_AUTOALLOCATE`): a ServiceEntry without `addresses`, with a
resolution other than NONE and not labelled `networking.istio.io/enable-autoallocate-ip:
"false"`, gets for each host that is not a wildcard the next free address of `240.240.0.0/16`
(240.240.0.1 first), kept while the control plane runs (`previous`; Istio keeps them in the
ServiceEntry's `status.addresses`, which `get serviceentry -o yaml` shows). Those addresses are
what a pod with DNS capture resolves the host to (`ISTIO_META_DNS_CAPTURE`, `local.pods`), and
the sidecars' listeners for the host's TCP ports (`<VIP>_<port>`). Pure.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from pilotfish.config.kinds import SERVICE_ENTRY
from pilotfish.registry.service_entries import with_entries
from pilotfish.registry.types import RegistrySnapshot, Service

AUTO_RANGE = ipaddress.ip_network("240.240.0.0/16")
AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"


def auto_allocates(service: Service) -> bool:
    """Whether Istio allocates an address to this ServiceEntry host (ShouldV2AutoAllocateIP)."""
    return (
        service.from_service_entry
        and not service.addresses
        and service.resolution not in ("", "NONE")
        and not service.host.startswith("*")
        and dict(service.labels).get(AUTOALLOCATE_LABEL, "").lower() != "false"
    )


def auto_addresses(
    services: Iterable[Service], previous: Mapping[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """(namespace, host) -> auto-allocated address: `previous` allocations kept, the next free
    address of 240.240.0.0/16 for each new host, in the services' order."""
    allocated = dict(previous)
    used = set(allocated.values())
    candidates = (str(a) for a in AUTO_RANGE.hosts())
    for service in services:
        key = (service.namespace, service.host)
        if key in allocated or not auto_allocates(service):
            continue
        address = next((a for a in candidates if a not in used), None)
        if address is None:
            break
        allocated[key] = address
        used.add(address)
    return allocated


def with_cluster_ips(
    services: Iterable[Service], cidr: str, auto: Mapping[tuple[str, str], str] | None = None
) -> tuple[Service, ...]:
    """`services`, each Kubernetes-shaped one with its cluster IP in `addresses`, each
    ServiceEntry host Istio allocates for with its `auto` address (`cidr` empty:
    unchanged)."""
    services = tuple(services)
    if not cidr:
        return services
    auto = auto or {}
    services = tuple(
        replace(s, addresses=(auto[(s.namespace, s.host)],))
        if auto_allocates(s) and (s.namespace, s.host) in auto
        else s
        for s in services
    )
    network = ipaddress.ip_network(cidr, strict=False)
    hosts = list(network.hosts())
    taken = {a for s in services for a in s.addresses if _in(a, network)}
    assigned: dict[str, str] = {}
    for service in sorted(services, key=lambda s: s.hostname):
        if service.from_service_entry or service.headless or service.addresses or not hosts:
            continue
        start = zlib.crc32(service.hostname.encode()) % len(hosts)
        for step in range(len(hosts)):
            candidate = str(hosts[(start + step) % len(hosts)])
            if candidate not in taken:
                taken.add(candidate)
                assigned[service.hostname] = candidate
                break
    return tuple(
        replace(s, addresses=(assigned[s.hostname],)) if s.hostname in assigned else s
        for s in services
    )


def cluster_ip(service: Service) -> str:
    """The one address a pod dials for `service` (its cluster IP, or a ServiceEntry's single
    non-CIDR address), or "" when it has none."""
    if len(service.addresses) != 1 or "/" in service.addresses[0]:
        return ""
    return service.addresses[0]


def cluster_ips(services: Iterable[Service]) -> Mapping[str, str]:
    """hostname -> cluster IP of the Kubernetes-shaped services that have one."""
    return {
        s.hostname: cluster_ip(s) for s in services if not s.from_service_entry and cluster_ip(s)
    }


class ClusterIpCache:
    """`with_cluster_ips` of the last services asked for, kept while they are the same object
    (translation keys its reusable parts on the services' identity)."""

    def __init__(self, cidr: str) -> None:
        self.cidr = cidr
        self._last: tuple[tuple[Service, ...], tuple[Any, ...], tuple[Service, ...]] | None = None
        self.auto: dict[tuple[str, str], str] = {}  # (namespace, host) -> allocated address

    def services(
        self, services: tuple[Service, ...], configs: Iterable[Any] = ()
    ) -> tuple[Service, ...]:
        """`services` (the manifest's) with their cluster IPs; in a mesh with a service CIDR,
        also the ServiceEntries among `configs` as services, with their allocated addresses
        (a push context adds the same services again only where they are missing)."""
        entries = tuple(c for c in configs if c.meta.kind == SERVICE_ENTRY) if self.cidr else ()
        last = self._last
        if last is None or last[0] is not services or not _same(last[1], entries):
            merged = services
            if entries:
                merged = with_entries(RegistrySnapshot(services=services), entries).services
                self.auto = auto_addresses(merged, self.auto)
            last = (services, entries, with_cluster_ips(merged, self.cidr, self.auto))
            self._last = last
        return last[2]

    def status_addresses(self, namespace: str, hosts: Iterable[str]) -> list[dict[str, str]]:
        """A ServiceEntry's `status.addresses` (Istio's `{value, host}`) from the last
        services asked for: its hosts that carry an allocated address."""
        current = {
            (s.namespace, s.host): s.addresses[0]
            for s in (self._last[2] if self._last else ())
            if auto_allocates(replace(s, addresses=()))
            and s.addresses
            and self.auto.get((s.namespace, s.host)) == s.addresses[0]
        }
        return [
            {"value": current[(namespace, h)], "host": h}
            for h in dict.fromkeys(hosts)
            if (namespace, h) in current
        ]


def entry_addresses(services: Iterable[Service]) -> list[dict[str, Any]]:
    """The ServiceEntry hosts with one address (their own, or allocated), each with its
    namespace and exportTo: what a pod with DNS capture resolves them to."""
    return [
        {
            "namespace": s.namespace,
            "host": s.host,
            "address": cluster_ip(s),
            "exportTo": list(s.export_to),
        }
        for s in services
        if s.from_service_entry and cluster_ip(s) and not s.host.startswith("*")
    ]


def with_allocated_status(doc: dict[str, Any], cache: ClusterIpCache) -> dict[str, Any]:
    """A ServiceEntry document with the addresses allocated to its hosts in `status.addresses`
    (as Istio's IP autoallocate controller writes them); any other document as it is."""
    spec = doc.get("spec")
    if doc.get("kind") != "ServiceEntry" or not isinstance(spec, dict):
        return doc
    namespace = str((doc.get("metadata") or {}).get("namespace") or "default")
    addresses = cache.status_addresses(namespace, [str(h) for h in spec.get("hosts") or ()])
    if not addresses:
        return doc
    status = doc.get("status")
    kept: dict[str, Any] = dict(status) if isinstance(status, dict) else {}
    return {**doc, "status": {**kept, "addresses": addresses}}


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _in(address: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False
