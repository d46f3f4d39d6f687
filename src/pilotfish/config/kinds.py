"""Every kind pilotfish reads, in one list: the Istio kinds (API group, served versions, spec
model, short names) and the Kubernetes-shaped kinds of the mesh manifest.

Owns `KindInfo` and `ISTIO_KINDS` (each kind's models are imported on first use),
`lookup(api_version, kind)` which tells an Istio document (any served version maps to the same
kind) from everything else, `MANIFEST_KINDS` / `is_manifest_kind` (`v1 Service`, `Namespace`,
`Secret`, ..., `pilotfish.io/v1alpha1 Workload`, `apps/v1 Deployment`, `v1 Pod`,
`monitoring.coreos.com/v1 PrometheusRule` and `ServiceMonitor`: parsed by
`pilotfish.registry.manifest`; RBAC's four kinds, stored and shown only), the Kubernetes
Gateway API's kinds (`GATEWAY_API_SERVED`, read by `pilotfish.config.gateway_api`;
`GATEWAY_API_KINDS` not served yet), and `resolve_kind` for kind names as users type them
(`vs`, `virtualservices`, `VirtualService`), and each Istio kind's name as a typed `Kind`
(`VIRTUAL_SERVICE`, `AUTHORIZATION_POLICY`, ...): a plain string at run time that tells the type
checker the kind's spec model, so `push.kind(SIDECAR)` is a tuple of `ConfigObject[SidecarSpec]`.
Imports no other pilotfish package (the spec models only for the type checker).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        DestinationRuleSpec,
        EnvoyFilterSpec,
        GatewaySpec,
        ProxyConfigSpec,
        ServiceEntrySpec,
        SidecarSpec,
        VirtualServiceSpec,
        WorkloadEntrySpec,
        WorkloadGroupSpec,
    )
    from pilotfish.config.models.security import (
        AuthorizationPolicySpec,
        PeerAuthenticationSpec,
        RequestAuthenticationSpec,
    )
    from pilotfish.config.models.telemetry import TelemetrySpec

NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"
_NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_MODELS = "pilotfish.config.models"
SpecT = TypeVar("SpecT")


class Kind(str, Generic[SpecT]):
    """An Istio kind's name (`"VirtualService"`), typed by its spec model for the checker."""

    __slots__ = ()


VIRTUAL_SERVICE: Kind[VirtualServiceSpec] = Kind("VirtualService")
DESTINATION_RULE: Kind[DestinationRuleSpec] = Kind("DestinationRule")
GATEWAY: Kind[GatewaySpec] = Kind("Gateway")
SERVICE_ENTRY: Kind[ServiceEntrySpec] = Kind("ServiceEntry")
WORKLOAD_ENTRY: Kind[WorkloadEntrySpec] = Kind("WorkloadEntry")
WORKLOAD_GROUP: Kind[WorkloadGroupSpec] = Kind("WorkloadGroup")
SIDECAR: Kind[SidecarSpec] = Kind("Sidecar")
PROXY_CONFIG: Kind[ProxyConfigSpec] = Kind("ProxyConfig")
ENVOY_FILTER: Kind[EnvoyFilterSpec] = Kind("EnvoyFilter")
PEER_AUTHENTICATION: Kind[PeerAuthenticationSpec] = Kind("PeerAuthentication")
AUTHORIZATION_POLICY: Kind[AuthorizationPolicySpec] = Kind("AuthorizationPolicy")
REQUEST_AUTHENTICATION: Kind[RequestAuthenticationSpec] = Kind("RequestAuthentication")
TELEMETRY_KIND: Kind[TelemetrySpec] = Kind("Telemetry")


@dataclass(frozen=True)
class KindInfo:
    """One Istio kind. `spec` imports its model module on first use (`module:Class` in
    `spec_name`), so that reading a VirtualService never imports the EnvoyFilter models."""

    group: str
    kind: str
    versions: tuple[str, ...]
    spec_name: str
    namespaced: bool = True
    short: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", str(self.kind))  # a plain str from here on

    @cached_property
    def spec(self) -> type[BaseModel]:
        """The model class (imported once: an apply of 1,000 documents asks 2,000 times)."""
        module, _, name = self.spec_name.partition(":")
        model = getattr(importlib.import_module(f"{_MODELS}.{module}"), name)
        assert isinstance(model, type) and issubclass(model, BaseModel)
        return model


ISTIO_KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            NETWORKING,
            VIRTUAL_SERVICE,
            _NETWORKING_VERSIONS,
            "networking.virtual_service:VirtualServiceSpec",
            short=("vs",),
        ),
        KindInfo(
            NETWORKING,
            DESTINATION_RULE,
            _NETWORKING_VERSIONS,
            "networking.destination_rule:DestinationRuleSpec",
            short=("dr",),
        ),
        KindInfo(
            NETWORKING,
            GATEWAY,
            _NETWORKING_VERSIONS,
            "networking.gateway:GatewaySpec",
            short=("gw",),
        ),
        KindInfo(
            NETWORKING,
            SERVICE_ENTRY,
            _NETWORKING_VERSIONS,
            "networking.service_entry:ServiceEntrySpec",
            short=("se",),
        ),
        KindInfo(
            NETWORKING,
            WORKLOAD_ENTRY,
            _NETWORKING_VERSIONS,
            "networking.workload_entry:WorkloadEntrySpec",
            short=("we",),
        ),
        KindInfo(
            NETWORKING,
            WORKLOAD_GROUP,
            _NETWORKING_VERSIONS,
            "networking.workload_entry:WorkloadGroupSpec",
            short=("wg",),
        ),
        KindInfo(NETWORKING, SIDECAR, _NETWORKING_VERSIONS, "networking.sidecar:SidecarSpec"),
        KindInfo(NETWORKING, PROXY_CONFIG, ("v1beta1",), "networking.proxy_config:ProxyConfigSpec"),
        KindInfo(
            NETWORKING, ENVOY_FILTER, ("v1alpha3",), "networking.envoy_filter:EnvoyFilterSpec"
        ),
        KindInfo(
            SECURITY,
            PEER_AUTHENTICATION,
            ("v1", "v1beta1"),
            "security.peer_authentication:PeerAuthenticationSpec",
            short=("pa",),
        ),
        KindInfo(
            SECURITY,
            AUTHORIZATION_POLICY,
            ("v1", "v1beta1"),
            "security.authorization_policy:AuthorizationPolicySpec",
            short=("ap",),
        ),
        KindInfo(
            SECURITY,
            REQUEST_AUTHENTICATION,
            ("v1", "v1beta1"),
            "security.request_authentication:RequestAuthenticationSpec",
            short=("ra",),
        ),
        KindInfo(
            TELEMETRY,
            TELEMETRY_KIND,
            ("v1", "v1alpha1"),
            "telemetry.telemetry:TelemetrySpec",
            short=("telemetry",),
        ),
    )
}

ISTIO_GROUPS = frozenset({NETWORKING, SECURITY, TELEMETRY, "extensions.istio.io"})


def split_api_version(api_version: str) -> tuple[str, str]:
    """`networking.istio.io/v1` → ("networking.istio.io", "v1"); `v1` → ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def lookup(api_version: str, kind: str) -> KindInfo | None:
    """The Istio kind for this apiVersion/kind, or None for a document of another API."""
    group, _ = split_api_version(api_version)
    info = ISTIO_KINDS.get(kind)
    if info is None or info.group != group:
        return None
    return info


def is_istio_group(api_version: str) -> bool:
    return split_api_version(api_version)[0] in ISTIO_GROUPS


MANIFEST_API = "pilotfish.io/v1alpha1"
MONITORING_API = "monitoring.coreos.com/v1"  # the Prometheus Operator's kinds
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API = f"{RBAC_GROUP}/v1"


GATEWAY_API_GROUP = "gateway.networking.k8s.io"
CONTROLLER_NAME = "istio.io/gateway-controller"  # Istio's GatewayClass controller
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"  # on a Gateway's own pods
ISTIO_CLASS_NAME = "istio"  # the GatewayClass Istio's install creates


@dataclass(frozen=True)
class GatewayApiKind:
    """One kind of the Kubernetes Gateway API pilotfish serves (`config.gateway_api`)."""

    kind: str
    versions: tuple[str, ...]
    model: str  # the spec model's class name in `config.gateway_api.models`
    short: tuple[str, ...] = ()
    namespaced: bool = True


GATEWAY_API_SERVED: dict[str, GatewayApiKind] = {
    k.kind: k
    for k in (
        GatewayApiKind("GatewayClass", ("v1", "v1beta1"), "GatewayClassSpec", ("gc",), False),
        GatewayApiKind("Gateway", ("v1", "v1beta1"), "GatewaySpec", ("gtw",)),
        GatewayApiKind("HTTPRoute", ("v1", "v1beta1"), "HTTPRouteSpec"),
        GatewayApiKind("GRPCRoute", ("v1", "v1alpha2"), "GRPCRouteSpec"),
        GatewayApiKind("TCPRoute", ("v1", "v1alpha2"), "TCPRouteSpec"),
        GatewayApiKind("TLSRoute", ("v1", "v1alpha2", "v1alpha3"), "TLSRouteSpec"),
        GatewayApiKind(
            "ReferenceGrant", ("v1beta1", "v1alpha2"), "ReferenceGrantSpec", ("refgrant",)
        ),
    )
}
"""The Gateway API kinds served, by kind name."""


def is_gateway_api_version(api_version: str) -> bool:
    return api_version.rpartition("/")[0] == GATEWAY_API_GROUP


def gateway_api_kind(api_version: str, kind: str) -> GatewayApiKind | None:
    """The served Gateway API kind of a document, or None."""
    return GATEWAY_API_SERVED.get(kind) if is_gateway_api_version(api_version) else None


def is_gateway_api_doc(doc: dict[str, Any], kind: str | None = None) -> bool:
    """A (stored) Gateway API document (of `kind`, when given)."""
    return is_gateway_api_version(str(doc.get("apiVersion", ""))) and kind in (
        None,
        doc.get("kind"),
    )


INGRESS_GROUP = "networking.k8s.io"  # Kubernetes Ingress and IngressClass (`config.ingress`)
INGRESS_KINDS = {"Ingress": ("ing",), "IngressClass": ()}  # served at networking.k8s.io/v1


def is_ingress_doc(doc: dict[str, Any], kind: str | None = None) -> bool:
    """A (stored) networking.k8s.io/v1 Ingress or IngressClass (of `kind`, when given)."""
    found = str(doc.get("kind", ""))
    return (
        str(doc.get("apiVersion", "")).rpartition("/")[0] == INGRESS_GROUP
        and found in INGRESS_KINDS
        and kind in (None, found)
    )


@dataclass(frozen=True)
class KindName:
    """A kind as the command line names it: API group ("" for the core `v1` kinds) and kind."""

    group: str
    kind: str
    short: tuple[str, ...] = ()
    namespaced: bool = True


MANIFEST_KINDS: dict[tuple[str, str], KindName] = {
    (api_version, name.kind): name
    for api_version, name in (
        ("v1", KindName("", "Service", ("svc",))),
        ("v1", KindName("", "ServiceAccount", ("sa",))),
        ("v1", KindName("", "Namespace", ("ns",), namespaced=False)),
        ("v1", KindName("", "ConfigMap", ("cm",))),
        ("v1", KindName("", "Secret")),
        (MANIFEST_API, KindName("pilotfish.io", "Workload", ("wl",))),
        ("apps/v1", KindName("apps", "Deployment", ("deploy",))),
        ("v1", KindName("", "Pod", ("po",))),
        (MONITORING_API, KindName("monitoring.coreos.com", "PrometheusRule", ("promrule",))),
        (MONITORING_API, KindName("monitoring.coreos.com", "ServiceMonitor", ("smon",))),
        (RBAC_API, KindName(RBAC_GROUP, "Role")),
        (RBAC_API, KindName(RBAC_GROUP, "RoleBinding")),
        (RBAC_API, KindName(RBAC_GROUP, "ClusterRole", namespaced=False)),
        (RBAC_API, KindName(RBAC_GROUP, "ClusterRoleBinding", namespaced=False)),
    )
}
"""The non-Istio kinds pilotfish reads (the mesh manifest), by (apiVersion, kind). RBAC's are
stored and shown, never enforced: local mode has no API server to authorize requests to."""

KIND_NAMES: tuple[KindName, ...] = (
    *(KindName(i.group, i.kind, i.short, i.namespaced) for i in ISTIO_KINDS.values()),
    *MANIFEST_KINDS.values(),
    *(
        KindName(GATEWAY_API_GROUP, k.kind, k.short, k.namespaced)
        for k in GATEWAY_API_SERVED.values()
    ),
    *(KindName(INGRESS_GROUP, k, s, k == "Ingress") for k, s in INGRESS_KINDS.items()),
)
"""Every kind the command line names (Istio's `Gateway` before the Gateway API's, as
istioctl: `gateway` is Istio's, `gtw` and `gateways.gateway.networking.k8s.io` the other)."""


def plural(kind: str) -> str:
    """kubectl's resource name of a kind: `virtualservices`, `serviceentries`, `gateways`."""
    lowered = kind.lower()
    if lowered.endswith("y") and lowered[-2:-1] not in "aeiou":
        return lowered[:-1] + "ies"
    return lowered + ("es" if lowered.endswith("s") else "s")


def kube_resource(group: str, kind: str, many: bool = False) -> str:
    """How kubectl names a kind in what it prints: the resource, then its API group unless it is
    the core one. Its change lines use the singular (`virtualservice.networking.istio.io/reviews
    created`, `deployment.apps/details-v1 created`, `service/details created`), its errors the
    plural (`deployments.apps "httpbin-v1" already exists`)."""
    resource = plural(kind) if many else kind.lower()
    return f"{resource}.{group}" if group else resource


def is_manifest_kind(api_version: str, kind: str) -> bool:
    return (api_version, kind) in MANIFEST_KINDS


def is_namespaced(kind: str) -> bool:
    """False only for the cluster-scoped kinds (`Namespace`); unknown kinds count as namespaced."""
    return all(k.namespaced for k in KIND_NAMES if k.kind == kind)


GATEWAY_API_KINDS = ("UDPRoute", "BackendTLSPolicy", "XListenerSet", "XBackendTrafficPolicy")
"""The Kubernetes Gateway API's kinds pilotfish does not serve yet (Istio does)."""
GATEWAY_API_NOT_YET = (
    "this kind of the Kubernetes Gateway API (gateway.networking.k8s.io) is not yet in this "
    "version (Gateway, GatewayClass, HTTPRoute, GRPCRoute, TCPRoute, TLSRoute and ReferenceGrant "
    "are): use Istio's Gateway and "
    "VirtualService (networking.istio.io), as in Istio's tasks' \"Istio APIs\" tab"
)


def is_gateway_api(text: str) -> bool:
    """Whether a kind as typed (`grpcroutes`, `tcproute.gateway.networking.k8s.io`) names a
    Gateway API kind pilotfish does not serve yet."""
    lowered = text.lower()
    name, _, group = lowered.partition(".")
    if group and not group.endswith(GATEWAY_API_GROUP):
        return False
    names: set[str] = set()
    for kind in (k.lower() for k in GATEWAY_API_KINDS):
        names |= {kind, kind + "s", kind + "es", kind[:-1] + "ies"}
    return name in names


def resolve_kind(text: str) -> KindName | None:
    """`vs`, `virtualservice`, `virtualservices`, `VirtualService.networking.istio.io`: the kind.
    A group after the name must be the kind's (`gateways.gateway.networking.k8s.io` is not
    Istio's Gateway); kubectl's `NAME.VERSION.GROUP` form is accepted too."""
    wanted, _, group = text.lower().partition(".")
    if group and "." in group and group.split(".", 1)[0][:1] == "v" and group[1:2].isdigit():
        group = group.split(".", 1)[1]  # virtualservices.v1.networking.istio.io
    for k in KIND_NAMES:
        if group and group != k.group.lower():
            continue
        kind = k.kind.lower()
        names = {kind, kind + "s", kind + "es", *k.short}
        if kind.endswith("y"):  # workloadentry -> workloadentries, as kubectl's plural
            names.add(kind[:-1] + "ies")
        if wanted in names:
            return k
    return None
