"""A manifest's `v1 Service` documents as registry `Service`s (`parse_service`, used by
`registry.manifest`): its ports with Istio's protocol selection (`types.protocol_from_port`:
`protocol: UDP`, `appProtocol`, the name's prefix), `targetPort`, `clusterIP` (`None`: headless),
the `networking.istio.io/exportTo` annotation (`.`, `*`, `~` or namespaces), and a
`type: ExternalName` Service's `externalName` (a DNS ServiceEntry under the Service's name:
`service_entries.external_name_fields`). Problems are errors with field paths, never raised.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pilotfish.registry.doc_parser import DocParser, labels, read_meta
from pilotfish.registry.service_entries import external_name_fields
from pilotfish.registry.types import Service, ServicePort, protocol_from_port
from pilotfish.registry.workloads import RawDocumentLike


def parse_service(p: DocParser, doc: RawDocumentLike) -> Service | None:
    """A `v1 Service` document as a registry service (None, and errors, when it is not one)."""
    head = read_meta(p, doc)
    spec = doc.data.get("spec") or {}
    if head is None or not isinstance(spec, dict):
        return None
    name, namespace, meta = head
    external_name = _external_name(p, doc, spec)
    if external_name is None:
        return None
    ports: list[ServicePort] = []
    for i, raw in enumerate(spec.get("ports") or []):
        path = f"spec.ports[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("port"), int):
            p.error(doc, f"{path}.port", "is required and must be an integer")
            continue
        number = raw["port"]
        target = number if external_name else raw.get("targetPort", number)
        if not (0 < number < 65536) or not isinstance(target, int) or not (0 < target < 65536):
            p.error(doc, f"{path}.port", f"port {number}/{target} out of range 1-65535")
            continue
        port_name = str(raw.get("name", ""))
        given = raw.get("appProtocol")
        app_protocol = None if given is None else str(given)
        protocol = protocol_from_port(
            port_name, app_protocol, number, str(raw.get("protocol") or "TCP")
        )
        ports.append(ServicePort(port_name, number, protocol, target, app_protocol))
    if not ports:
        p.error(doc, "spec.ports", "a Service needs at least one port")
        return None
    export_to = _service_export_to(p, doc, meta)
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip not in ("", "None") and not _is_ip(cluster_ip):
        p.error(doc, "spec.clusterIP", f"{cluster_ip!r} is not an IP address (or None)")
        return None
    if export_to is None:
        return None
    return Service(
        name=name,
        namespace=namespace,
        ports=tuple(ports),
        selector=labels(spec.get("selector")),
        labels=labels(meta.get("labels")),
        export_to=export_to,
        addresses=(cluster_ip,) if cluster_ip not in ("", "None") else (),
        headless=cluster_ip == "None",
        **external_name_fields(name, namespace, external_name),
    )


def _external_name(p: DocParser, doc: RawDocumentLike, spec: dict[str, Any]) -> str | None:
    """`spec.externalName` of a `type: ExternalName` Service ("" for other types; None and an
    error when it is missing)."""
    if spec.get("type") != "ExternalName":
        return ""
    target = spec.get("externalName")
    if not isinstance(target, str) or not target.strip():
        p.error(doc, "spec.externalName", "is required for a Service of type ExternalName")
        return None
    return target.strip().rstrip(".")


EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _service_export_to(
    p: DocParser, doc: RawDocumentLike, meta: dict[str, Any]
) -> tuple[str, ...] | None:
    """Istio's `networking.istio.io/exportTo` annotation (comma-separated: `.`, `*`, `~` or
    namespaces); None (and an error) when it is malformed."""
    notes = meta.get("annotations")
    raw = notes.get(EXPORT_TO_ANNOTATION) if isinstance(notes, dict) else None
    if raw is None:
        return ()
    values = tuple(v.strip() for v in str(raw).split(","))
    path = f"metadata.annotations[{EXPORT_TO_ANNOTATION}]"
    bad = [v for v in values if v not in (".", "*", "~") and not _NAMESPACE.match(v)]
    if bad:
        p.error(doc, path, f"{bad[0]!r} is not '.', '*', '~' or a namespace name")
        return None
    if "*" in values and len(values) > 1:
        p.error(doc, path, "cannot have both public (*) and non-public exportTo values")
        return None
    return values


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return isinstance(value, str)
