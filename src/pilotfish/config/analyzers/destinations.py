"""DestinationRule TLS that does not verify the server: IST0128
(NoServerCertificateVerificationDestinationLevel) and IST0129 (...PortLevel), both Warning.

As Istio: `trafficPolicy.tls` (IST0128) or a `portLevelSettings[].tls` (IST0129) with mode SIMPLE
or MUTUAL and no `caCertificates`, unless a `credentialName` is set on a DestinationRule with a
`workloadSelector` (the CA then comes with the credential). The port is printed as Istio prints
its PortSelector (`number:443`). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.objects import ConfigObject

_UNVERIFIED = ("SIMPLE", "MUTUAL")


def _unverified(tls: Any, has_selector: bool) -> str | None:
    mode = getattr(tls, "mode", None)
    if mode not in _UNVERIFIED or getattr(tls, "ca_certificates", None):
        return None
    if getattr(tls, "credential_name", None) and has_selector:
        return None
    return str(mode)


def unverified_server_tls(rule: ConfigObject[Any]) -> list[AnalysisMessage]:
    spec = rule.spec
    policy = getattr(spec, "traffic_policy", None)
    if policy is None:
        return []
    has_selector = getattr(spec, "workload_selector", None) is not None
    name, namespace = f"{rule.meta.namespace}/{rule.meta.name}", rule.meta.namespace
    host = getattr(spec, "host", None) or ""
    head = f"DestinationRule {name} in namespace {namespace} has TLS mode set to"
    tail = "but no caCertificates are set to validate server identity for host:"
    out: list[AnalysisMessage] = []
    mode = _unverified(getattr(policy, "tls", None), has_selector)
    if mode is not None:
        out.append(message_for(rule, "Warning", "IST0128", f"{head} {mode} {tail} {host}"))
    for setting in getattr(policy, "port_level_settings", ()):
        mode = _unverified(getattr(setting, "tls", None), has_selector)
        if mode is None:
            continue
        number = getattr(getattr(setting, "port", None), "number", None)
        port = f"number:{number}" if number else ""
        text = f"{head} {mode} {tail} {host} at port {port}"
        out.append(message_for(rule, "Warning", "IST0129", text))
    return out
