"""Istio's ConflictingMeshGatewayHostsAnalyzer, IST0109: VirtualServices bound to the mesh
gateway (no `gateways`, or `mesh` among them) that define the same host for the same audience.
A host is scoped by the VirtualService's exportTo (`*` for all namespaces, the default; `.` its
own namespace); a namespace-scoped host also conflicts with the all-namespaces hosts it matches.
Each VirtualService is reported once, with the first conflict found (hosts in sorted order).
Pure.
"""

from __future__ import annotations

from pilotfish.config.analyzers.documents import as_list, full_name, spec_of
from pilotfish.config.analyzers.messages import AnalysisMessage, fqdn, message_for
from pilotfish.config.hosts import hosts_overlap
from pilotfish.config.objects import VirtualService

ALL = "*"


def _scopes(vs: VirtualService) -> list[str]:
    export = [str(e) for e in as_list(spec_of(vs).get("exportTo"))]
    if not export or ALL in export:
        return [ALL]
    return sorted({vs.meta.namespace if e == "." else e for e in export})


def _mesh_bound(vs: VirtualService) -> bool:
    gateways = as_list(spec_of(vs).get("gateways"))
    return not gateways or "mesh" in gateways


def mesh_host_conflicts(services: list[VirtualService]) -> list[AnalysisMessage]:
    hosts: dict[tuple[str, str], list[VirtualService]] = {}
    for vs in services:
        if not _mesh_bound(vs):
            continue
        for scope in _scopes(vs):
            for host in as_list(spec_of(vs).get("hosts")):
                hosts.setdefault((scope, fqdn(str(host), vs.meta.namespace)), []).append(vs)
    reported: set[str] = set()
    out: list[AnalysisMessage] = []
    for (scope, host), group in sorted(hosts.items(), key=lambda item: item[0]):
        members = list(group)
        if scope != ALL:
            for (other_scope, other), more in sorted(hosts.items(), key=lambda item: item[0]):
                if other_scope == ALL and hosts_overlap(host, other, "name"):
                    members += more
        if len(members) < 2:
            continue
        names = ",".join(sorted(full_name(vs) for vs in members))
        for vs in members:
            if full_name(vs) in reported:
                continue
            reported.add(full_name(vs))
            text = (
                f"The VirtualServices {names} associated with mesh gateway define the same host "
                f"{scope}/{host} which can lead to undefined behavior. This can be fixed by "
                "merging the conflicting VirtualServices into a single resource."
            )
            out.append(message_for(vs, "Error", "IST0109", text, "metadata.name"))
    return out
