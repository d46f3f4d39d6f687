"""`analyze(result, inventory)`: every analyzer, with istioctl analyze's codes and wording.

Owns the analyzers over references between objects: IST0106 (schema errors), IST0122 (invalid
regex), IST0101 (referenced host, subset or gateway not found; the registry is the inventory's
services: `v1 Service` documents, ServiceEntries, and the running mesh with `--use-mesh`), IST0109
(mesh VirtualServices sharing a host), IST0132 (VirtualService host not in its Gateway), IST0134
(ServiceEntry addresses required), and runs those of `pilotfish.config.analyzers` (IST0113,
IST0127, IST0128/0129, IST0130/0131, IST0145, IST0162). Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pilotfish.config.analyzers.destinations import unverified_server_tls
from pilotfish.config.analyzers.gateways import conflicting_gateways, gateway_ports_not_on_service
from pilotfish.config.analyzers.inventory import Inventory, inventory_from_inputs
from pilotfish.config.analyzers.messages import (
    DOMAIN,
    SEVERITY_RANK,
    AnalysisMessage,
    Severity,
    fqdn,
    host_matches,
)
from pilotfish.config.analyzers.routes import unused_rules
from pilotfish.config.analyzers.security import mtls_conflicts, no_matching_workloads
from pilotfish.config.load import LoadResult
from pilotfish.config.models.networking import (
    DestinationRuleSpec,
    GatewaySpec,
    ServiceEntrySpec,
    VirtualServiceSpec,
)
from pilotfish.config.objects import ConfigObject, Source

__all__ = [
    "DOMAIN",
    "SEVERITY_RANK",
    "AnalysisMessage",
    "Inventory",
    "Severity",
    "analyze",
    "fqdn",
    "host_matches",
]


def _ident(obj: ConfigObject[Any]) -> tuple[str, str, Source]:
    return obj.meta.kind, f"{obj.meta.name}.{obj.meta.namespace}", obj.meta.source


def analyze(result: LoadResult, mesh: Inventory | None = None) -> list[AnalysisMessage]:
    """Messages for everything in `result`; `mesh` adds the running mesh's registry."""
    inventory = inventory_from_inputs(result)
    if mesh is not None:
        inventory.extend(mesh)
    messages: list[AnalysisMessage] = []
    for d in result.errors:
        code, text = "IST0106", f"Schema validation error: {d.message}"
        if "regex" in d.message:
            code, text = "IST0122", f'Field "{d.path}" regular expression invalid: {d.message}'
        name = d.name.split("/", 1)
        ident = f"{name[1]}.{name[0]}" if len(name) == 2 else d.name
        messages.append(AnalysisMessage("Error", code, d.kind or "Document", ident, text, d.source))
    by_kind: dict[str, list[ConfigObject[Any]]] = defaultdict(list)
    for obj in result.objects:
        by_kind[obj.meta.kind].append(obj)
    subsets = {
        (fqdn(dr.spec.host or "", dr.meta.namespace), s.name)
        for dr in by_kind["DestinationRule"]
        if isinstance(dr.spec, DestinationRuleSpec)
        for s in dr.spec.subsets
        if s.name
    }
    gateways = {(g.meta.namespace, g.meta.name): g for g in by_kind["Gateway"]}
    for vs in by_kind["VirtualService"]:
        messages += _virtual_service(vs, inventory, subsets, gateways)
        messages += unused_rules(vs)
    messages += _mesh_host_conflicts(by_kind["VirtualService"])
    messages += conflicting_gateways(by_kind["Gateway"])
    for gw in by_kind["Gateway"]:
        messages += gateway_ports_not_on_service(gw, inventory)
    for dr in by_kind["DestinationRule"]:
        messages += unverified_server_tls(dr)
        messages += mtls_conflicts(dr, by_kind["PeerAuthentication"], inventory)
    for obj in result.objects:
        messages += no_matching_workloads(obj, inventory)
    for se in by_kind["ServiceEntry"]:
        spec = se.spec
        if (
            isinstance(spec, ServiceEntrySpec)
            and not spec.addresses
            and any((p.protocol or "TCP").upper() == "TCP" for p in spec.ports)
        ):
            text = "ServiceEntry addresses are required for this protocol."
            messages.append(
                AnalysisMessage("Warning", "IST0134", *_ident(se)[:2], text, se.meta.source)
            )
    return messages


def _virtual_service(
    vs: ConfigObject[Any],
    inventory: Inventory,
    subsets: set[tuple[str, str]],
    gateways: dict[tuple[str, str], ConfigObject[Any]],
) -> list[AnalysisMessage]:
    spec = vs.spec
    if not isinstance(spec, VirtualServiceSpec):
        return []
    kind, name, source = _ident(vs)
    out: list[AnalysisMessage] = []
    namespace = vs.meta.namespace
    destinations = [r.destination for h in spec.http for r in h.route]
    destinations += [h.mirror for h in spec.http if h.mirror is not None]
    destinations += [r.destination for t in spec.tcp for r in t.route]
    destinations += [r.destination for t in spec.tls for r in t.route]
    for dest in destinations:
        if dest is None or not dest.host:
            continue
        host = fqdn(dest.host, namespace)
        if not inventory.knows_host(host):
            text = f'Referenced host not found: "{dest.host}"'
            out.append(AnalysisMessage("Error", "IST0101", kind, name, text, source))
        elif dest.subset and (host, dest.subset) not in subsets:
            text = (
                f'Referenced host+subset in destinationrule not found: "{dest.host}+{dest.subset}"'
            )
            out.append(AnalysisMessage("Error", "IST0101", kind, name, text, source))
    for ref in spec.gateways:
        if ref == "mesh":
            continue
        gw_ns, _, gw_name = ref.rpartition("/")
        gateway = gateways.get((gw_ns or namespace, gw_name))
        if gateway is None:
            text = f'Referenced gateway not found: "{ref}"'
            out.append(AnalysisMessage("Error", "IST0101", kind, name, text, source))
            continue
        gw_hosts = (
            [h.rpartition("/")[2] for s in gateway.spec.servers for h in s.hosts]
            if isinstance(gateway.spec, GatewaySpec)
            else []
        )
        missing = [h for h in spec.hosts if not any(host_matches(g, h) for g in gw_hosts)]
        if missing:
            text = (
                f"one or more host [{', '.join(missing)}] defined in VirtualService "
                f"{namespace}/{vs.meta.name} not found in Gateway "
                f"{gateway.meta.namespace}/{gateway.meta.name}."
            )
            out.append(AnalysisMessage("Warning", "IST0132", kind, name, text, source))
    return out


def _mesh_host_conflicts(services: list[ConfigObject[Any]]) -> list[AnalysisMessage]:
    owners: dict[str, list[ConfigObject[Any]]] = defaultdict(list)
    for vs in services:
        spec = vs.spec
        if isinstance(spec, VirtualServiceSpec) and (not spec.gateways or "mesh" in spec.gateways):
            for host in spec.hosts:
                owners[fqdn(host, vs.meta.namespace)].append(vs)
    out: list[AnalysisMessage] = []
    for host, group in sorted(owners.items()):
        if len(group) < 2:
            continue
        names = ",".join(f"{v.meta.namespace}/{v.meta.name}" for v in group)
        text = (
            f"The VirtualServices {names} associated with mesh gateway define the same host "
            f'"{host}" which can lead to undefined behavior. This can be fixed by merging the '
            "conflicting VirtualServices into a single resource."
        )
        for vs in group:
            out.append(AnalysisMessage("Error", "IST0109", *_ident(vs)[:2], text, vs.meta.source))
    return out
