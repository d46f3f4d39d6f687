"""VirtualService analyzers of Istio beyond references: IST0140 (DestinationHostAnalyzer: a
gateway-bound route without subset to a host that a VirtualService routes by subset, so the
subset rules do not apply to gateway requests) and IST0149 (JWTClaimRouteAnalyzer: routing on
an `@request.auth.claims` header at a Gateway whose pods no RequestAuthentication of their
namespace or of istio-system selects, so the claims never exist). Pure.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.documents import as_list, as_map, as_strings, full_name, spec_of
from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.messages import (
    ROOT_NAMESPACE,
    AnalysisMessage,
    message_for,
    selects,
)
from pilotfish.config.objects import Gateway, RequestAuthentication, VirtualService

CLAIM_PREFIX = "@request.auth.claims"


def _routes(vs: VirtualService) -> list[tuple[str, dict[str, Any]]]:
    """(path of the destination, destination) of every HTTP route."""
    return [
        (f"spec.http[{i}].route[{j}].destination", as_map(as_map(route).get("destination")))
        for i, http in enumerate(as_list(spec_of(vs).get("http")))
        for j, route in enumerate(as_list(as_map(http).get("route")))
    ]


def subset_rules_at_gateways(services: list[VirtualService]) -> list[AnalysisMessage]:
    by_subset: dict[str, list[str]] = {}  # VirtualService -> its subset-routed own hosts
    for vs in services:
        hosts = as_list(spec_of(vs).get("hosts"))
        for _, dest in _routes(vs):
            if dest.get("subset") and dest.get("host") in hosts:
                by_subset.setdefault(full_name(vs), []).append(str(dest.get("host")))
    out: list[AnalysisMessage] = []
    for vs in services:
        if not as_list(spec_of(vs).get("gateways")):
            continue
        for path, dest in _routes(vs):
            if dest.get("subset"):
                continue
            for owner, hosts in by_subset.items():
                for host in hosts:
                    if host == dest.get("host"):
                        text = (
                            f"Subset in virtual service {owner} has no effect on ingress gateway "
                            f"{full_name(vs)} requests"
                        )
                        out.append(message_for(vs, "Warning", "IST0140", text, f"{path}.host"))
    return out


def _is_claim(header: str) -> bool:
    """Istio's jwt.ToRoutingClaim(...).Match: `@request.auth.claims.NAME` or `...[NAME]`."""
    if not header.lower().startswith(CLAIM_PREFIX):
        return False
    rest = header[len(CLAIM_PREFIX) :]
    return (rest.startswith(".") and len(rest) > 1) or (
        rest.startswith("[") and rest.endswith("]") and len(rest) > 2
    )


def _claim_key(vs: VirtualService) -> str:
    for http in as_list(spec_of(vs).get("http")):
        for match in as_list(as_map(http).get("match")):
            for field in ("headers", "withoutHeaders"):
                for key in as_map(as_map(match).get(field)):
                    if _is_claim(str(key)):
                        return str(key)
    return ""


def claim_routes_without_authn(
    services: list[VirtualService],
    gateways: list[Gateway],
    authns: list[RequestAuthentication],
    kube: Kube,
) -> list[AnalysisMessage]:
    selectors: dict[str, list[dict[str, str]]] = {}
    for ra in authns:
        labels = as_strings(as_map(spec_of(ra).get("selector")).get("matchLabels"))
        selectors.setdefault(ra.meta.namespace, []).append(labels)
    by_name = {full_name(g): g for g in gateways}
    out: list[AnalysisMessage] = []
    for vs in services:
        key = _claim_key(vs)
        if not key:
            continue
        for index, ref in enumerate(as_list(spec_of(vs).get("gateways"))):
            if ref == "mesh":
                continue
            ref = str(ref) if "/" in str(ref) else f"{vs.meta.namespace}/{ref}"
            gateway = by_name.get(ref)
            if gateway is None:
                continue
            selector = as_strings(spec_of(gateway).get("selector"))
            for pod in kube.pods:
                if not selects(selector, pod.labels):
                    continue
                candidates = selectors.get(ROOT_NAMESPACE, []) + selectors.get(pod.namespace, [])
                if any(selects(s, pod.labels) for s in candidates):
                    continue
                text = (
                    f"The virtual service uses the JWT claim based routing (key: {key}) but found "
                    f"no request authentication for the gateway ({ref}) pod ({pod.name}). The "
                    "request authentication must first be applied for the gateway pods to "
                    "validate the JWT token and make the claims available for routing."
                )
                path = f"spec.gateways[{index}]"
                out.append(message_for(vs, "Error", "IST0149", text, path))
    return out
