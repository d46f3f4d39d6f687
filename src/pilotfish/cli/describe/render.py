"""The text `pilotfish describe` prints, in istioctl's layout and wording (`Pod:`, `Service:`,
`DestinationRule: reviews for "reviews"`, `Matching subsets: v1`, `VirtualService: reviews`,
`WARNING: No destinations match pod subsets (checked 1 HTTP routes)`, `Exposed on Ingress
Gateway http://…`). Each function returns lines; indentation steps are istioctl's (0, 3, 6).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilotfish.cli.describe.mesh_view import ProxyState
from pilotfish.cli.describe.rules import (
    PolicySummary,
    RouteVerdict,
    RuleSummary,
    ServiceDescription,
)
from pilotfish.config.protocols import described_protocol
from pilotfish.registry.types import Protocol, Service, WorkloadInstance
from pilotfish.translate.peer_authentication import EffectiveMtls

SEPARATOR = "-" * 20
L1, L2, L3 = " " * 3, " " * 6, " " * 9


def kname(name: str, namespace: str, current: str) -> str:
    """istioctl's convention: `name` in the namespace being described, else `name.namespace`."""
    return name if namespace == current else f"{name}.{namespace}"


def pod_lines(
    pod: WorkloadInstance, services: Sequence[Service], proxy: ProxyState | None, current: str
) -> list[str]:
    lines = [f"Pod: {kname(pod.name, pod.namespace, current)}", f"{L1}Workload: {pod.workload}"]
    app = pod.label_map.get("app", pod.workload)
    # as istioctl lists every container's ports: the sidecar's is Envoy's 15090 (http-envoy-prom)
    ports = [f"{p} ({app})" for p in pod.ports] + ["15090 (istio-proxy)"] * pod.sidecar
    if ports:
        lines.append(f"{L1}Pod Ports: " + ", ".join(ports))
    else:
        lines.append(f"{L1}Pod does not expose ports")
    lines.append(f"{L1}Address: {pod.address}")
    labels = ", ".join(f"{k}={v}" for k, v in pod.labels) or "<none>"
    lines.append(f"{L1}Labels: {labels}")
    if not pod.ready:
        lines.append(f"WARNING: Pod {pod.name} NOT READY")
    if proxy is None:
        lines.append(f"WARNING: {pod.name} sidecar is not connected to the control plane")
    else:
        lines.append(f"{L1}Sidecar sync: " + ", ".join(f"{t} {s}" for t, s in proxy.states))
        lines += [f"WARNING: {pod.name} sidecar {error}" for error in proxy.errors]
    if not services:
        lines.append(f"Warning: No Services select pod {kname(pod.name, pod.namespace, current)}")
    return lines


def service_header(
    service: Service, pods: Sequence[WorkloadInstance], current: str, list_pods: bool
) -> list[str]:
    lines = [f"Service: {kname(service.name, service.namespace, current)}"]
    for port in service.ports:
        transport = "UDP" if port.protocol is Protocol.UDP else "TCP"
        protocol = described_protocol(port.port, port.name, transport, port.app_protocol)
        if protocol is None:  # istioctl leaves out the ports that are not TCP
            continue
        targets = sorted({pod.port_for(port) for pod in pods}) or [port.target_port]
        suffix = ", ".join(str(t) for t in targets)
        lines.append(f"{L1}Port: {port.name} {port.port}/{protocol} targets pod port {suffix}")
    if list_pods:
        lines.append(f"{L1}Pods: " + ", ".join(kname(p.name, p.namespace, current) for p in pods))
    return lines


def policy_lines(policy: PolicySummary, indent: str) -> list[str]:
    lines = []
    if policy.tls_mode:
        lines.append(f"{indent}Traffic Policy TLS Mode: {policy.tls_mode}")
    if policy.settings:
        lines.append(f"{indent}Policies: " + "/".join(label for label, _ in policy.settings))
        lines += [f"{indent}{L1}{label}: {detail}" for label, detail in policy.settings]
    return lines


def rule_lines(summary: RuleSummary, current: str) -> list[str]:
    rule = summary.rule
    name = kname(rule.meta.name, rule.meta.namespace, current)
    lines = [f'DestinationRule: {name} for "{rule.spec.host}"']
    subsets = summary.subsets
    if subsets.matching or subsets.non_matching:
        if not subsets.matching:
            lines.append(
                f"{L1}WARNING POD DOES NOT MATCH ANY SUBSETS.  "
                f"(Non matching subsets {','.join(subsets.non_matching)})"
            )
        lines.append(f"{L1}Matching subsets: {','.join(subsets.matching)}")
        if subsets.non_matching:
            lines.append(f"{L2}(Non-matching subsets {','.join(subsets.non_matching)})")
    if summary.policy is None:
        lines.append(f"{L1}No Traffic Policy")
    else:
        lines += policy_lines(summary.policy, L1)
    if summary.port_policies:
        lines.append(f"{L1}Port Level Settings:")
        for port, policy in summary.port_policies:
            lines.append(f"{L2}{port}:")
            lines += policy_lines(policy, L3)
    for subset, policy in summary.subset_policies:
        lines.append(f"{L1}Subset {subset} Traffic Policy:")
        lines += policy_lines(policy, L2)
    return lines


def verdict_lines(verdict: RouteVerdict, current: str, extra: Sequence[str] = ()) -> list[str]:
    """istioctl's printVirtualService: facts when routes reach the pods, else a warning."""
    vs = verdict.virtual_service
    lines = [f"VirtualService: {kname(vs.meta.name, vs.meta.namespace, current)}"]
    lines += [f"{L1}{line}" for line in extra]
    counts = (
        (verdict.http_routes, "HTTP"),
        (verdict.tcp_routes, "TCP"),
        (verdict.tls_routes, "TLS"),
    )
    if verdict.matched == 0:
        lines += [
            f"{L1}WARNING: No destinations match pod subsets (checked {count} {kind} routes)"
            for count, kind in counts
            if count
        ]
        return lines + [f"{L2}{note}" for note in verdict.mismatches]
    lines += [f"{L1}{fact}" for fact in verdict.facts]
    if verdict.matched < verdict.routes:
        missed = verdict.routes - verdict.matched
        lines.append(f"{L1}{missed} additional destination(s) that will not reach this pod")
        if not verdict.facts:
            lines += [f"{L2}{note}" for note in verdict.mismatches]
    elif not verdict.facts:
        lines += [f"{L1}{count} {kind} route(s)" for count, kind in counts if count]
    return lines


def description_lines(description: ServiceDescription, current: str) -> list[str]:
    lines: list[str] = []
    if description.rule is not None:
        lines += rule_lines(description.rule, current)
    if description.route is not None:
        lines += verdict_lines(description.route, current)
    return lines


def exposure_lines(description: ServiceDescription, current: str) -> list[str]:
    lines: list[str] = []
    for exposure in description.exposures:
        gateway: Any = exposure.gateway
        lines.append(SEPARATOR)
        lines += [f"Exposed on Ingress Gateway {url}" for url in exposure.urls] or [
            "Exposed on Ingress Gateway (no gateway proxy serves it)"
        ]
        gw_name = kname(gateway.meta.name, gateway.meta.namespace, current)
        lines += verdict_lines(exposure.verdict, current, [f"Gateway: {gw_name}"])
    return lines


def mtls_lines(pod: WorkloadInstance, effective: EffectiveMtls) -> list[str]:
    """istioctl's `Effective PeerAuthentication` block, with the mode of every pod port (and
    local mode's honest limit: the app itself listens on loopback, outside the sidecar)."""
    if not pod.sidecar:
        return [
            "Effective PeerAuthentication:",
            f'{L1}No sidecar (sidecar.istio.io/inject: "false"): plaintext only',
        ]
    lines = ["Effective PeerAuthentication:", f"{L1}Workload mTLS mode: {effective.mode}"]
    if effective.ports:
        lines.append(f"{L1}Port Level mTLS mode:")
        lines += [f"{L2}{port}: {mode}" for port, mode in effective.ports]
    if pod.ports:
        lines.append(f"{L1}Pod ports: " + ", ".join(f"{p} {effective.at(p)}" for p in pod.ports))
    if effective.policies:
        lines.append("Applied PeerAuthentication:")
        lines.append(
            L1 + ", ".join(p.split("/")[1] + "." + p.split("/")[0] for p in effective.policies)
        )
    if pod.ports and effective.mode != "DISABLE":
        lines.append(
            "NOTE: local mode: the app also listens on 127.0.0.1, where a local process reaches it "
            "without mTLS (the isolated mode removes this)"
        )
    return lines
