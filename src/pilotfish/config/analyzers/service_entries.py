"""Istio's ServiceEntry analyzers: IST0134 (ProtocolAddressesAnalyzer: a TCP or protocol-less
port of a ServiceEntry with no addresses, none allocated in its status, and the mesh config not
auto-allocating them: one message per such port) and IST0177 (several ServiceEntries visible in
one namespace give one host and port different protocols). Pure.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pilotfish.config.analyzers.documents import as_list, as_map, full_name, spec_of
from pilotfish.config.analyzers.mesh_config import MeshInputs
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.objects import ServiceEntry

ALL = "*"


def _auto_allocated(mesh: MeshInputs) -> bool:
    metadata = mesh.proxy_metadata
    if metadata.get("ISTIO_META_DNS_CAPTURE") != "true":
        return False
    return "true" in (
        metadata.get("ISTIO_META_DNS_AUTO_ALLOCATE"),
        metadata.get("PILOT_ENABLE_IP_AUTOALLOCATE"),
    )


def addresses_required(entries: list[ServiceEntry], mesh: MeshInputs) -> list[AnalysisMessage]:
    if _auto_allocated(mesh):
        return []
    out: list[AnalysisMessage] = []
    for se in entries:
        spec = spec_of(se)
        if spec.get("addresses") is not None or as_list(
            as_map(se.raw.get("status")).get("addresses")
        ):
            continue
        for index, port in enumerate(as_list(spec.get("ports"))):
            if str(as_map(port).get("protocol") or "TCP").upper() == "TCP":
                text = "ServiceEntry addresses are required for this protocol."
                path = f"spec.ports[{index}].name"
                out.append(message_for(se, "Warning", "IST0134", text, path))
    return out


def _scopes(spec: dict[str, Any], namespace: str) -> set[str]:
    export = [str(e) for e in as_list(spec.get("exportTo"))]
    if not export or ALL in export:
        return {ALL}
    return {namespace if e == "." else e for e in export}


def conflicting_protocols(entries: list[ServiceEntry]) -> list[AnalysisMessage]:
    index: dict[tuple[str, str, int], list[tuple[str, ServiceEntry]]] = defaultdict(list)
    for se in entries:
        spec = spec_of(se)
        for scope in sorted(_scopes(spec, se.meta.namespace)):
            for host in as_list(spec.get("hosts")):
                for port in as_list(spec.get("ports")):
                    number = as_map(port).get("number")
                    if isinstance(number, int):
                        protocol = str(as_map(port).get("protocol") or "")
                        index[(scope, str(host), number)].append((protocol, se))
    reported: set[str] = set()
    out: list[AnalysisMessage] = []
    for (scope, host, number), found in list(index.items()):
        entries_here = found + (index.get((ALL, host, number), []) if scope != ALL else [])
        protocols = sorted({p.upper() for p, _ in entries_here})
        if len(protocols) < 2:
            continue
        names = ", ".join(sorted({full_name(se) for _, se in entries_here}))
        for _, se in entries_here:
            if full_name(se) in reported:
                continue
            reported.add(full_name(se))
            text = (
                f"Multiple ServiceEntries ({names}) define the same host {_quote(host)} and port "
                f"{number} with conflicting protocols ({', '.join(protocols)})."
            )
            out.append(message_for(se, "Warning", "IST0177", text, "metadata.name"))
    return out


def _quote(text: str) -> str:
    """Go's %q for the plain strings hosts are."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
