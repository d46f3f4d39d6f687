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
has 2046 addresses). Pure.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

from pilotfish.registry.types import Service


def with_cluster_ips(services: Iterable[Service], cidr: str) -> tuple[Service, ...]:
    """`services`, each Kubernetes-shaped one with its cluster IP in `addresses` (`cidr` empty:
    unchanged)."""
    services = tuple(services)
    if not cidr:
        return services
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
        self._last: tuple[tuple[Service, ...], tuple[Service, ...]] | None = None

    def services(self, services: tuple[Service, ...]) -> tuple[Service, ...]:
        if self._last is None or self._last[0] is not services:
            self._last = (services, with_cluster_ips(services, self.cidr))
        return self._last[1]


def _in(address: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False
