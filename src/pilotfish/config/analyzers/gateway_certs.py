"""Istio's gateway CertificateAnalyzer: IST0138, two Gateways on the same workloads (the other's
selector includes this one's; an empty selector takes every Gateway) with a TLS server using the
same certificate: the same `credentialName`, or the same server certificate and private key
files. Clients that reuse an HTTP/2 connection across the two hosts then get 404s. Pure.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.documents import as_list, as_map, as_strings, full_name, spec_of
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.objects import Gateway


def _same_certificate(a: dict[str, Any], b: dict[str, Any]) -> bool:
    name_a, name_b = a.get("credentialName") or "", b.get("credentialName") or ""
    if name_a and name_b:
        return bool(name_a == name_b)
    if name_a or name_b:
        return False
    cert_a, cert_b = a.get("serverCertificate") or "", b.get("serverCertificate") or ""
    key_a, key_b = a.get("privateKey") or "", b.get("privateKey") or ""
    return bool(cert_a and cert_a == cert_b and key_a and key_a == key_b)


def _included(selector: dict[str, str], other: dict[str, str]) -> bool:
    return all(other.get(k) == v for k, v in selector.items())


def _tls(gateway: Gateway) -> list[dict[str, Any]]:
    servers = as_list(spec_of(gateway).get("servers"))
    return [as_map(as_map(s).get("tls")) for s in servers if isinstance(as_map(s).get("tls"), dict)]


def duplicate_certificates(gateways: list[Gateway]) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for gateway in gateways:
        selector = as_strings(spec_of(gateway).get("selector"))
        for other in gateways:
            if other is gateway or full_name(other) == full_name(gateway):
                continue
            if not _included(selector, as_strings(spec_of(other).get("selector"))):
                continue
            for mine in _tls(gateway):
                for theirs in _tls(other):
                    if _same_certificate(mine, theirs):
                        names = f"[{full_name(gateway)} {full_name(other)}]"
                        text = (
                            f"Duplicate certificate in multiple gateways {names} may cause 404s "
                            "if clients re-use HTTP2 connections."
                        )
                        out.append(
                            message_for(gateway, "Warning", "IST0138", text, "metadata.name")
                        )
    return out
