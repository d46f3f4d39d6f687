"""`Proxy`: who is asking for config. Built from the Envoy node (id + metadata) by the xDS server.

Node ids follow Istio: `sidecar~10.0.0.1~reviews-v2-0.default~default.svc.cluster.local`
(type~ip~instance.namespace~namespace.svc.cluster.local).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from pilotfish.config.locality import from_labels
from pilotfish.config.proxy_tracing import ProxyTracing
from pilotfish.registry.workloads import GATEWAY_LABELS, is_gateway_pod

__all__ = ["GATEWAY_LABELS", "Proxy", "ProxyType", "is_gateway_pod"]


class ProxyType(StrEnum):
    SIDECAR = "sidecar"
    ROUTER = "router"  # gateways


@dataclass(frozen=True)
class Proxy:
    type: ProxyType
    ip: str
    instance: str  # workload instance name, e.g. reviews-v2-0
    namespace: str
    labels: tuple[tuple[str, str], ...] = ()
    workload: str = ""
    service_account: str = "default"
    gateway_address: str = ""  # routers: the address gateway servers bind (default: ip)
    outbound_port: int = 15001  # sidecars: the HTTP-proxy port apps send outbound traffic to
    app_ports: tuple[tuple[int, int], ...] = ()
    """Sidecars: (container port, port the app really listens on at 127.0.0.1). The sidecar's
    inbound listener binds ip:container_port and forwards to 127.0.0.1:app_port."""
    interception: str = ""
    """Istio's INTERCEPTION_MODE: "REDIRECT" when the pod's traffic is captured by iptables
    (the isolated mode: listeners 15001/15006 with original destinations, admin on
    127.0.0.1); "" for pilotfish's explicit mode (apps use the sidecar as HTTP proxy)."""
    delta_xds: bool = False
    """The proxy speaks delta (incremental) ADS (its agent says so in the node metadata):
    needed for on-demand clusters (`translate.on_demand`)."""
    num_trusted_proxies: int | None = None
    """Gateways: the pod's own ProxyConfig `gatewayTopology.numTrustedProxies` (annotation
    `proxy.istio.io/config`), over the mesh's; None: the mesh's applies."""
    tracing: ProxyTracing | None = None
    """The pod's own ProxyConfig `tracing` (`proxy.istio.io/config`), which replaces the mesh's
    `defaultConfig.tracing` whole, as in Istio; None: the mesh's applies."""
    ws_proxy_port: int = 0
    """Sidecars annotated `pilotfish.io/ws-proxy: "true"`: the port of a second HTTP proxy
    listener that also takes `GET ws://…` request lines (the app's `WS_PROXY`); 0: none."""
    identity_env: tuple[tuple[str, str], ...] = ()
    """The variables holding its own identity that its agent gave its Envoy, as declared in
    the node metadata (`telemetry.identity_env`); (): none."""

    @property
    def captured(self) -> bool:
        return self.interception == "REDIRECT"

    @property
    def id(self) -> str:
        domain = f"{self.namespace}.svc.cluster.local"
        return f"{self.type.value}~{self.ip}~{self.instance}.{self.namespace}~{domain}"

    @property
    def pod_name(self) -> str:
        """`NAME.NAMESPACE`, as `proxy-status` prints it: unique in a mesh (a name alone is
        unique only within its namespace, as pods are)."""
        return f"{self.instance}.{self.namespace}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @cached_property
    def is_gateway(self) -> bool:
        """A router, or a workload labelled `istio: ingressgateway|egressgateway` (in local mode
        an egress gateway is a manifest Workload with those labels) or a Gateway API Gateway's
        pod (`registry.workloads.is_gateway_pod`): it serves Gateway servers instead of sidecar
        listeners."""
        return self.type == ProxyType.ROUTER or is_gateway_pod(self.label_map)

    @cached_property
    def locality(self) -> str:
        """Where the proxy is, `region/zone/subzone` ("" when its labels do not say): what its
        endpoints' priorities and locality weights are relative to (`config.locality`)."""
        return from_labels(self.label_map)

    @property
    def bind_address(self) -> str:
        return self.gateway_address or self.ip

    @staticmethod
    def parse_id(node_id: str) -> tuple[ProxyType, str, str, str]:
        """Split a node id into (type, ip, instance, namespace). Raises ValueError if malformed."""
        parts = node_id.split("~")
        if len(parts) != 4 or "." not in parts[2]:
            raise ValueError(f"malformed node id {node_id!r}")
        instance, namespace = parts[2].rsplit(".", 1)
        return ProxyType(parts[0]), parts[1], instance, namespace
