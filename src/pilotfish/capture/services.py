"""Kubernetes Services' virtual IPs, load-balanced as kube-proxy's iptables mode does it.

No kube-proxy runs next to an isolated mesh, so its pods get kube-proxy's rules in their own
network namespace. `service_routes(services, cluster_ips, instances)` lists each service port
with a cluster IP and the ready instances it selects (address, target port), as an
EndpointSlice would; `service_rules(routes, hooks)` turns them into `iptables-restore --noflush`
input that replaces both tables' `KUBE-SERVICES` chain in one commit (declaring a user chain
under `--noflush` empties it first), so a change never shows a half-written chain:

- nat: for a port with n endpoints, n DNAT rules (`-d VIP/32 -p tcp --dport PORT`); the i-th
  (from 0) is taken with probability 1/(n-i) (`-m statistic --mode random`), the last always:
  each endpoint gets 1/n of the new connections;
- filter: a port with no ready endpoint is REJECTed (kube-proxy's "has no endpoints"): the
  caller is refused at once instead of waiting for an address no interface owns;
- `hooks` (once, when the pod is made): `-A <hook> -j KUBE-SERVICES` in both tables. In a pod
  it is `OUTPUT`, appended after Istio's `-j ISTIO_OUTPUT` (`rules.nat_rules`): an app's
  connection is still redirected to its sidecar first; the sidecar's own connection (uid/gid
  1337 RETURNs from ISTIO_OUTPUT), or a pod's without sidecar, reaches KUBE-SERVICES and is
  DNATed. A node would hook `PREROUTING` and `OUTPUT`, as kube-proxy does.

A pod's own address is left out of its routes when another endpoint exists (`exclude`): a
connection DNATed to the pod itself is local and never passes its PREROUTING, so it would miss
its own inbound capture (on Kubernetes the node sends it back through the pod's interface).
Only TCP ports (the mesh captures TCP). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pilotfish.registry.types import Service, WorkloadInstance

SERVICES_CHAIN = "KUBE-SERVICES"


@dataclass(frozen=True)
class ServiceRoute:
    """One service port: `vip:port` -> the ready endpoints (address, target port)."""

    service: str  # "namespace/name:port-name", the rules' comment (kube-proxy's)
    vip: str
    port: int
    endpoints: tuple[tuple[str, int], ...] = ()


def service_routes(
    services: Iterable[Service],
    cluster_ips: Mapping[str, str],
    instances: Iterable[WorkloadInstance],
) -> tuple[ServiceRoute, ...]:
    """The routes of the services that have a cluster IP (`cluster_ips`: hostname -> VIP)
    over the ready `instances` each selects, sorted by (VIP, port); endpoints by address."""
    ready = [i for i in instances if i.ready]
    routes = []
    for service in services:
        vip = cluster_ips.get(service.hostname, "")
        if not vip or service.from_service_entry or not service.selector:
            continue
        chosen = [
            i for i in ready if i.namespace == service.namespace and service.selects(i.label_map)
        ]
        for port in service.ports:
            endpoints = sorted({(i.address, i.port_for(port)) for i in chosen})
            label = f"{service.namespace}/{service.name}:{port.name or port.port}"
            routes.append(ServiceRoute(label, vip, port.port, tuple(endpoints)))
    return tuple(sorted(routes, key=lambda r: (_ip_key(r.vip), r.port)))


def _ip_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split(".")) if address.count(".") == 3 else ()


def _without(endpoints: tuple[tuple[str, int], ...], exclude: str) -> tuple[tuple[str, int], ...]:
    others = tuple(e for e in endpoints if e[0] != exclude)
    return others or endpoints


def service_rules(
    routes: Sequence[ServiceRoute], hooks: Sequence[str] = (), exclude: str = ""
) -> str:
    """`iptables-restore --noflush` input: both tables' KUBE-SERVICES chain, replaced whole;
    `hooks` adds the jumps into it (only the first time); `exclude` is the pod's own address."""
    nat = ["*nat", f":{SERVICES_CHAIN} - [0:0]"]
    nat += [f"-A {hook} -j {SERVICES_CHAIN}" for hook in hooks]
    reject = ["*filter", f":{SERVICES_CHAIN} - [0:0]"]
    reject += [f"-A {hook} -j {SERVICES_CHAIN}" for hook in hooks]
    for route in routes:
        match = f"-d {route.vip}/32 -p tcp -m comment --comment {route.service} -m tcp"
        endpoints = _without(route.endpoints, exclude)
        if not endpoints:
            reject.append(
                f"-A {SERVICES_CHAIN} {match} --dport {route.port} "
                "-j REJECT --reject-with icmp-port-unreachable"
            )
        for index, (address, port) in enumerate(endpoints):
            left = len(endpoints) - index
            chance = f" -m statistic --mode random --probability {1 / left:.10f}"
            nat.append(
                f"-A {SERVICES_CHAIN} {match} --dport {route.port}{chance if left > 1 else ''} "
                f"-j DNAT --to-destination {address}:{port}"
            )
    return "\n".join([*nat, "COMMIT", *reject, "COMMIT"]) + "\n"
