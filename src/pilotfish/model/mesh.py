"""`MeshConfig`: the subset of Istio's MeshConfig the translators read, with Istio's defaults,
and pilotfish's own switches set from the control plane's environment. Plain data: it must not
import translation, the control plane or the xDS server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pilotfish.config.hosts import CLUSTER_DOMAIN
from pilotfish.config.mesh_retry import NO_MESH_RETRIES, MeshRetries
from pilotfish.config.mesh_security import DEFAULT_MESH_MTLS, ExtAuthzProvider, MeshMtls
from pilotfish.config.mesh_telemetry import MeshTelemetry
from pilotfish.config.models.networking.destination_rule import LocalityLoadBalancerSetting
from pilotfish.registry.mesh_config import ExportDefaults

if TYPE_CHECKING:
    from pilotfish.registry.manifest import Manifest


ON_DEMAND_ENV = "PILOTFISH_ON_DEMAND_CLUSTERS"
"""pilotfish's default (not Istio's): sidecars get outbound clusters on demand
(`translate.on_demand`); `false` in the environment of the control plane and of `pilotfish up`
turns it off (`up` then starts its sidecars on state-of-the-world xDS, Istio's default)."""


def on_demand_enabled(environ: Mapping[str, str]) -> bool:
    """Whether on-demand clusters are on in this environment: unless `ON_DEMAND_ENV` is
    `false` (read once in a `main`)."""
    return environ.get(ON_DEMAND_ENV, "").strip().lower() != "false"


ON_DEMAND_ROUTES_ENV = "PILOTFISH_ON_DEMAND_ROUTES"
"""pilotfish's default (off with `false`): sidecars that get clusters on demand also get the
virtual hosts of their `http_proxy` route configuration on demand (VHDS,
`translate.on_demand_routes`); read from the control plane's environment."""


def on_demand_routes_enabled(environ: Mapping[str, str]) -> bool:
    """Whether on-demand virtual hosts are on in this environment: unless `ON_DEMAND_ROUTES_ENV`
    is `false` (read once in a `main`)."""
    return environ.get(ON_DEMAND_ROUTES_ENV, "").strip().lower() != "false"


@dataclass(frozen=True)
class MeshConfig:
    """The subset of Istio's MeshConfig that pilotfish honours (same names, same defaults)."""

    root_namespace: str = "istio-system"
    trust_domain: str = CLUSTER_DOMAIN
    outbound_traffic_policy: str = "ALLOW_ANY"
    enable_auto_mtls: bool = True
    enable_prometheus_merge: bool = True
    proxy_admin_port: int = 15000
    ingress_selector: str = "ingressgateway"
    telemetry: MeshTelemetry = field(default_factory=MeshTelemetry)
    trace_collector_address: str = ""  # where the mesh's own trace collector listens (local)
    path_normalization: str = "BASE"  # NONE | BASE | MERGE_SLASHES | DECODE_AND_MERGE_SLASHES
    extension_providers: tuple[ExtAuthzProvider, ...] = ()
    num_trusted_proxies: int = 0  # defaultConfig.gatewayTopology.numTrustedProxies
    trust_domain_aliases: tuple[str, ...] = ()
    mesh_mtls: MeshMtls = DEFAULT_MESH_MTLS  # meshMTLS: the TLS of a sidecar's inbound mTLS
    export_defaults: ExportDefaults = field(default_factory=ExportDefaults)
    filter_gateway_clusters: bool = False  # PILOT_FILTER_GATEWAY_CLUSTER_CONFIG (Istio: off)
    on_demand_clusters: bool = False  # PILOTFISH_ON_DEMAND_CLUSTERS (translate.on_demand)
    on_demand_routes: bool = False  # PILOTFISH_ON_DEMAND_ROUTES (translate.on_demand_routes)
    tls_on_sidecar_ingress: bool = False
    """istiod's `ENABLE_TLS_ON_SIDECAR_INGRESS` (Istio: off), from the install's
    `values.pilot.env` (`registry.mesh_config`): a Sidecar's `ingress[].tls` applies only when
    on (`translate.sidecar_scope`)."""
    protocol_detection_timeout: float = 0.0  # protocolDetectionTimeout (Istio: 0s, none)
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    """`localityLbSetting`: what applies to a cluster whose DestinationRule sets none (None:
    Istio's default, `{enabled: true}`; `translate.locality_lb`)."""
    retries: MeshRetries = NO_MESH_RETRIES
    """`defaultHttpRetryPolicy` and `defaultInboundHttpRetryPolicy` (`translate.http_routes`)."""

    @classmethod
    def of(
        cls,
        manifest: Manifest,
        trace_collector_address: str = "",
        filter_gateways: bool = False,
        on_demand: bool = False,
        on_demand_routes: bool = False,
    ) -> MeshConfig:
        """What the manifest's mesh config sets; Istio's defaults for what it leaves out."""
        security = manifest.security
        return cls(
            outbound_traffic_policy=manifest.outbound_traffic_policy or "ALLOW_ANY",
            telemetry=manifest.telemetry,
            path_normalization=security.path_normalization,
            extension_providers=security.ext_authz_providers,
            num_trusted_proxies=security.num_trusted_proxies,
            trust_domain_aliases=security.trust_domain_aliases,
            mesh_mtls=security.mesh_mtls,
            trust_domain=manifest.mesh.trust_domain or cls.trust_domain,
            trace_collector_address=trace_collector_address,
            export_defaults=manifest.mesh.export_defaults,
            filter_gateway_clusters=filter_gateways,
            on_demand_clusters=on_demand,
            on_demand_routes=on_demand_routes,
            locality_lb_setting=manifest.mesh.locality_lb,
            tls_on_sidecar_ingress=manifest.mesh.tls_on_sidecar_ingress,
            protocol_detection_timeout=manifest.mesh.protocol_detection_timeout,
            retries=manifest.mesh.retries,
        )
