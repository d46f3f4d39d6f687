"""DestinationRule TLS that does not verify the server: IST0128
(NoServerCertificateVerificationDestinationLevel) and IST0129 (...PortLevel), both Warning.

As Istio: `trafficPolicy.tls` (IST0128) or a `portLevelSettings[].tls` (IST0129) with mode SIMPLE
or MUTUAL and no `caCertificates`, unless a `credentialName` is set on a DestinationRule with a
`workloadSelector` (the CA then comes with the credential). The port is printed as Istio prints
its PortSelector (`number:443`). Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.objects import DestinationRule

if TYPE_CHECKING:
    from pilotfish.config.models.networking import ClientTLSSettings

_UNVERIFIED = ("SIMPLE", "MUTUAL")
_CA_CERTIFICATES = "spec.trafficPolicy.tls.caCertificates"
"""Where Istio points IST0128 (absent, so the line of `tls`, its nearest ancestor read)."""


def _unverified(tls: ClientTLSSettings | None, has_selector: bool) -> str | None:
    if tls is None or tls.mode not in _UNVERIFIED or tls.ca_certificates:
        return None
    if tls.credential_name and has_selector:
        return None
    return str(tls.mode)


def unverified_server_tls(rule: DestinationRule) -> list[AnalysisMessage]:
    spec = rule.spec
    policy = spec.traffic_policy
    if policy is None:
        return []
    has_selector = spec.workload_selector is not None
    name, namespace = f"{rule.meta.namespace}/{rule.meta.name}", rule.meta.namespace
    host = spec.host or ""
    head = f"DestinationRule {name} in namespace {namespace} has TLS mode set to"
    tail = "but no caCertificates are set to validate server identity for host:"
    out: list[AnalysisMessage] = []
    mode = _unverified(policy.tls, has_selector)
    if mode is not None:
        text = f"{head} {mode} {tail} {host}"
        out.append(message_for(rule, "Warning", "IST0128", text, _CA_CERTIFICATES))
    for index, setting in enumerate(policy.port_level_settings):
        mode = _unverified(setting.tls, has_selector)
        if mode is None:
            continue
        number = setting.port.number if setting.port is not None else None
        port = f"number:{number}" if number else ""
        text = f"{head} {mode} {tail} {host} at port {port}"
        path = f"spec.trafficPolicy.portLevelSettings[{index}].tls.caCertificates"
        out.append(message_for(rule, "Warning", "IST0129", text, path))
    return out
