"""Analyzers with istioctl analyze's codes and wording, over config from files alone.

Owns `AnalysisMessage` and `analyze(result)`: IST0106 (schema errors), IST0122 (invalid regex),
IST0101 (referenced host, subset or gateway not found; the registry is the `v1 Service`
documents and ServiceEntries among the inputs), IST0109 (mesh VirtualServices sharing a host),
IST0130 (unreachable HTTP rule), IST0132 (VirtualService host not in its Gateway), IST0134
(ServiceEntry addresses required), IST0145 (conflicting Gateways). Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from pilotfish.config.load import LoadResult
from pilotfish.config.models.networking import (
    DestinationRuleSpec,
    GatewaySpec,
    ServiceEntrySpec,
    VirtualServiceSpec,
)
from pilotfish.config.objects import ConfigObject, Source

Severity = Literal["Error", "Warning", "Info"]
SEVERITY_RANK = {"Info": 0, "Warning": 1, "Error": 2}
DOMAIN = "svc.cluster.local"


@dataclass(frozen=True)
class AnalysisMessage:
    severity: Severity
    code: str
    kind: str
    name: str  # name.namespace, as istioctl prints it
    message: str
    source: Source = field(default_factory=Source)

    def __str__(self) -> str:
        where = f" {self.source}" if self.source.file != "<unknown>" else ""
        return f"{self.severity} [{self.code}] ({self.kind} {self.name}{where}) {self.message}"


def fqdn(host: str, namespace: str) -> str:
    """Istio's short-name resolution: `reviews` in namespace ns → reviews.ns.svc.cluster.local."""
    return host if "." in host or host.startswith("*") else f"{host}.{namespace}.{DOMAIN}"


def host_matches(pattern: str, host: str) -> bool:
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return False


def _ident(obj: ConfigObject[Any]) -> tuple[str, str, Source]:
    return obj.meta.kind, f"{obj.meta.name}.{obj.meta.namespace}", obj.meta.source


def analyze(result: LoadResult) -> list[AnalysisMessage]:
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
    hosts = _registry_hosts(result, by_kind["ServiceEntry"])
    subsets = {
        (fqdn(dr.spec.host or "", dr.meta.namespace), s.name)
        for dr in by_kind["DestinationRule"]
        if isinstance(dr.spec, DestinationRuleSpec)
        for s in dr.spec.subsets
        if s.name
    }
    gateways = {(g.meta.namespace, g.meta.name): g for g in by_kind["Gateway"]}
    for vs in by_kind["VirtualService"]:
        messages += _virtual_service(vs, hosts, subsets, gateways)
    messages += _mesh_host_conflicts(by_kind["VirtualService"])
    messages += _gateway_conflicts(by_kind["Gateway"])
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


def _registry_hosts(result: LoadResult, entries: list[ConfigObject[Any]]) -> set[str]:
    hosts: set[str] = set()
    for doc in result.others:
        if doc.api_version == "v1" and doc.kind == "Service":
            name = doc.metadata.get("name")
            namespace = doc.metadata.get("namespace") or "default"
            if isinstance(name, str) and isinstance(namespace, str):
                hosts.add(f"{name}.{namespace}.{DOMAIN}")
    for se in entries:
        if isinstance(se.spec, ServiceEntrySpec):
            hosts.update(fqdn(h, se.meta.namespace) for h in se.spec.hosts)
    return hosts


def _host_known(host: str, registry: set[str]) -> bool:
    return any(host_matches(known, host) or host_matches(host, known) for known in registry)


def _virtual_service(
    vs: ConfigObject[Any],
    registry: set[str],
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
        if not _host_known(host, registry):
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
    for index, http in enumerate(spec.http[:-1]):
        if not http.match:
            text = (
                f"VirtualService rule #{index} not used (only the last rule can have no matches)."
            )
            out.append(AnalysisMessage("Error", "IST0130", kind, name, text, source))
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


def _gateway_conflicts(gateways: list[ConfigObject[Any]]) -> list[AnalysisMessage]:
    seen: dict[tuple[tuple[tuple[str, str], ...], int, str], ConfigObject[Any]] = {}
    out: list[AnalysisMessage] = []
    for gw in gateways:
        spec = gw.spec
        if not isinstance(spec, GatewaySpec):
            continue
        selector = tuple(sorted(spec.selector.items()))
        for server in spec.servers:
            port = server.port.number if server.port is not None and server.port.number else 0
            for host in server.hosts:
                key = (selector, port, host.rpartition("/")[2])
                other = seen.setdefault(key, gw)
                if other is not gw:
                    labels = ",".join(f"{k}={v}" for k, v in selector)
                    text = (
                        f"Conflict with gateways {other.meta.namespace}/{other.meta.name} "
                        f"(workload selector {labels}, port {port}, hosts {key[2]})."
                    )
                    out.append(
                        AnalysisMessage("Error", "IST0145", *_ident(gw)[:2], text, gw.meta.source)
                    )
    return out
