"""Kind names as users type them: `vs`, `virtualservice`, `virtualservices`, `VirtualService`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindName:
    group: str
    kind: str
    short: tuple[str, ...] = ()


KINDS = (
    KindName("networking.istio.io", "VirtualService", ("vs",)),
    KindName("networking.istio.io", "DestinationRule", ("dr",)),
    KindName("networking.istio.io", "Gateway", ("gw",)),
    KindName("networking.istio.io", "ServiceEntry", ("se",)),
    KindName("networking.istio.io", "WorkloadEntry", ("we",)),
    KindName("networking.istio.io", "WorkloadGroup", ("wg",)),
    KindName("networking.istio.io", "Sidecar", ()),
    KindName("networking.istio.io", "EnvoyFilter", ()),
    KindName("networking.istio.io", "ProxyConfig", ()),
    KindName("security.istio.io", "PeerAuthentication", ("pa",)),
    KindName("security.istio.io", "AuthorizationPolicy", ("ap",)),
    KindName("security.istio.io", "RequestAuthentication", ("ra",)),
    KindName("telemetry.istio.io", "Telemetry", ("telemetry",)),
    KindName("", "Service", ("svc",)),
    KindName("", "ServiceAccount", ("sa",)),
    KindName("", "Namespace", ("ns",)),
    KindName("", "ConfigMap", ("cm",)),
    KindName("", "Secret", ()),
    KindName("pilotfish.io", "Workload", ("wl",)),
)


def resolve_kind(text: str) -> KindName | None:
    wanted = text.lower().split(".", 1)[0]
    for k in KINDS:
        names = {k.kind.lower(), k.kind.lower() + "s", k.kind.lower() + "es", *k.short}
        if wanted in names:
            return k
    return None
