"""Which Istio rules apply to a workload or service, and what they do to it: the pure core of
`pilotfish describe`, after istioctl's `experimental describe`.

- `subset_match(rule, pods)`: the DestinationRule subsets whose labels select any of the pods.
- `policy_summary(policy)`: a traffic policy as TLS mode + load balancer / connection pool /
  outlier detection settings.
- `route_verdict(vs, service, subsets, rule)`: whether the VirtualService's routes send traffic
  to those pods (facts such as `Weight 80%` or `Route to host "reviews" subset "v2" with
  headers end-user=jason`, and notes about routes that miss them).
- `describe_service(push, service, pods, namespace, routers)`: all of the above for one service
  as seen from `namespace`, plus the ingress gateways that expose it.

The rule choices are the model's own, the ones translation makes: `PushContext.destination_rule`
and `PushContext.mesh_virtual_service`; delegation is `translate.delegates`. How conditions and
faults are worded is `describe.match_text`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pilotfish.cli.describe.match_text import (
    render_conditions,
    render_fault,
    render_note_matches,
    render_target,
)
from pilotfish.cli.describe.mesh_view import ProxyState
from pilotfish.config.hosts import intersect, resolve_host
from pilotfish.config.objects import DestinationRule, Gateway, VirtualService
from pilotfish.config.protocols import HTTP_FAMILY
from pilotfish.model.push_context import MESH_GATEWAY, PushContext, gateway_ref
from pilotfish.registry.types import Service
from pilotfish.translate.delegates import http_routes as delegated_routes

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Destination,
        HTTPFaultInjection,
        HTTPRoute,
        PortTrafficPolicy,
        TCPRoute,
        TLSRoute,
        TrafficPolicy,
    )

POLICY_PARTS = (
    ("load_balancer", "load balancer"),
    ("connection_pool", "connection pool"),
    ("outlier_detection", "outlier detection"),
)


@dataclass(frozen=True)
class SubsetMatch:
    matching: tuple[str, ...] = ()
    non_matching: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySummary:
    tls_mode: str = ""
    settings: tuple[tuple[str, str], ...] = ()  # ("load balancer", "simple=LEAST_REQUEST")


@dataclass(frozen=True)
class RuleSummary:
    rule: DestinationRule
    subsets: SubsetMatch
    policy: PolicySummary | None
    port_policies: tuple[tuple[int, PolicySummary], ...] = ()
    subset_policies: tuple[tuple[str, PolicySummary], ...] = ()  # matching subsets only


@dataclass(frozen=True)
class RouteVerdict:
    virtual_service: VirtualService
    http_routes: int
    tcp_routes: int
    tls_routes: int
    matched: int  # routes that send some traffic to the pods
    facts: tuple[str, ...]
    mismatches: tuple[str, ...]

    @property
    def routes(self) -> int:
        return self.http_routes + self.tcp_routes + self.tls_routes


@dataclass(frozen=True)
class Exposure:
    gateway: Gateway
    urls: tuple[str, ...]
    verdict: RouteVerdict


@dataclass(frozen=True)
class ServiceDescription:
    service: Service
    rule: RuleSummary | None
    route: RouteVerdict | None
    exposures: tuple[Exposure, ...]


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def subset_match(rule: DestinationRule, pods: Sequence[Mapping[str, str]]) -> SubsetMatch:
    matching: list[str] = []
    non_matching: list[str] = []
    for subset in rule.spec.subsets:
        hit = any(selects(dict(subset.labels), labels) for labels in pods)
        (matching if hit else non_matching).append(str(subset.name))
    return SubsetMatch(tuple(matching), tuple(non_matching))


def _flatten(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [f"{prefix[:-1]}={','.join(str(v) for v in value)}"]
    return [f"{prefix[:-1]}={value}"]


def policy_summary(policy: TrafficPolicy | PortTrafficPolicy | None) -> PolicySummary:
    settings = []
    for attr, label in POLICY_PARTS:
        part = getattr(policy, attr, None)
        if part is not None:
            dumped = part.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
            settings.append((label, ", ".join(_flatten(dumped)) or "defaults"))
    tls = getattr(policy, "tls", None)
    return PolicySummary(str(tls.mode or "") if tls else "", tuple(settings))


def rule_summary(rule: DestinationRule, pods: Sequence[Mapping[str, str]]) -> RuleSummary:
    subsets = subset_match(rule, pods)
    policy = rule.spec.traffic_policy
    ports = tuple(
        ((p.port.number or 0) if p.port else 0, policy_summary(p))
        for p in (policy.port_level_settings if policy else ())
    )
    subset_policies = tuple(
        (str(s.name), policy_summary(s.traffic_policy))
        for s in rule.spec.subsets
        if s.traffic_policy is not None and s.name in subsets.matching
    )
    summary = policy_summary(policy) if policy is not None else None
    return RuleSummary(rule, subsets, summary, ports, subset_policies)


def _route_facts(
    route: HTTPRoute | TCPRoute | TLSRoute,
    vs: VirtualService,
    service: Service,
    subsets: SubsetMatch,
    rule: DestinationRule | None,
    http: bool,
    fault: HTTPFaultInjection | None = None,
) -> tuple[bool, list[str], list[str]]:
    """(reaches the pods, facts, notes on destinations that miss them) for one route."""
    destinations = [(d, d.destination) for d in route.route if d.destination is not None]
    conditions = render_conditions(route.match, http)
    notes: list[str] = []
    reaching: list[tuple[Destination, int]] = []
    for dest, target in destinations:
        if resolve_host(str(target.host), vs.meta.namespace) != service.hostname:
            continue
        subset = target.subset
        weight = dest.weight if dest.weight is not None else (100 if len(destinations) == 1 else 0)
        if subset and subset in subsets.non_matching:
            notes.append(
                f"Route to non-matching subset {subset} for "
                f"({render_note_matches(route.match, http)})"
            )
        elif subset and subset not in subsets.matching:
            notes.append(
                f"Warning: Route to subset {subset} but NO DESTINATION RULE defining subsets!"
                if rule is None
                else f"Warning: Route to UNKNOWN subset {subset}; check DestinationRule "
                f"{rule.meta.name}"
            )
        elif weight == 0:
            notes.append(f"Route to {render_target(target.host, subset)} with weight 0%")
        else:
            reaching.append((target, weight))
    if not reaching:
        return False, [], notes
    facts = []
    if conditions:
        targets = " and ".join(render_target(t.host, t.subset) for t, _ in reaching)
        facts.append(f"Route to {targets} with {conditions}")
    if len(reaching) == 1 and reaching[0][1] < 100:
        facts.append(f"Weight {reaching[0][1]}%")
    elif len(reaching) > 1:
        facts += [
            f"Route to {render_target(t.host, t.subset)} with weight {w}%" for t, w in reaching
        ]
    if fault is not None:
        facts.append(render_fault(fault))
    return True, facts, notes


def http_routes(vs: VirtualService, push: PushContext) -> list[tuple[VirtualService, HTTPRoute]]:
    """(owning VirtualService, HTTP route) in order, delegates expanded and their matches merged
    by translation's own code, so describe tells the story the sidecar's config tells."""
    found = delegated_routes(vs, push.kind("VirtualService"), lambda *_: None)
    return [(owner, route) for owner, route, _ in found]


def route_verdict(
    vs: VirtualService,
    service: Service,
    subsets: SubsetMatch,
    rule: DestinationRule | None,
    push: PushContext,
) -> RouteVerdict:
    http = http_routes(vs, push)
    matched, facts, mismatches = 0, [], []
    found = [_route_facts(r, owner, service, subsets, rule, True, r.fault) for owner, r in http]
    l4: list[TCPRoute | TLSRoute] = [*vs.spec.tls, *vs.spec.tcp]
    found += [_route_facts(route, vs, service, subsets, rule, False) for route in l4]
    for reaches, new_facts, notes in found:
        matched += reaches
        facts += new_facts
        mismatches += notes
    return RouteVerdict(
        vs, len(http), len(vs.spec.tcp), len(vs.spec.tls), matched, tuple(facts), tuple(mismatches)
    )


def gateway_urls(
    gateway: Gateway, vs: VirtualService, routers: Sequence[ProxyState]
) -> tuple[str, ...]:
    """`http://<ingress address>:<port>` for each server of `gateway` that serves one of the
    VirtualService's hosts, on every gateway proxy the Gateway selects (`tcp://`, `tls://` for
    TCP and TLS servers, such as tcp-echo's on 31400)."""
    urls = []
    for router in routers:
        if not gateway.spec.selector or not selects(dict(gateway.spec.selector), router.label_map):
            continue
        for server in gateway.spec.servers:
            protocol = str(server.port.protocol if server.port else "").upper()
            scheme = (
                "http" if protocol in HTTP_FAMILY
                else "https" if protocol == "HTTPS"
                else "tls" if protocol == "TLS"
                else "tcp" if protocol in ("TCP", "MONGO")
                else None
            )  # fmt: skip
            hosts = [h.split("/", 1)[-1] for h in server.hosts]
            if (
                scheme is None
                or server.port is None
                or not any(
                    intersect(h, resolve_host(v, vs.meta.namespace))
                    for h in hosts
                    for v in vs.spec.hosts
                )
            ):
                continue
            number = int(server.port.number or 0)
            default = {"http": 80, "https": 443}.get(scheme, 0)
            urls.append(
                f"{scheme}://{router.address}" + (f":{number}" if number != default else "")
            )
    return tuple(dict.fromkeys(urls))


def exposures(
    push: PushContext,
    service: Service,
    subsets: SubsetMatch,
    rule: DestinationRule | None,
    routers: Sequence[ProxyState],
) -> tuple[Exposure, ...]:
    """Gateways bound by a VirtualService that routes to the service's pods."""
    found = []
    gateways = {f"{g.meta.namespace}/{g.meta.name}": g for g in push.kind("Gateway")}
    for vs in push.kind("VirtualService"):
        refs = [gateway_ref(g, vs.meta.namespace) for g in vs.spec.gateways]
        for ref in dict.fromkeys(r for r in refs if r != MESH_GATEWAY):
            gateway = gateways.get(ref)
            if gateway is None:
                continue
            verdict = route_verdict(vs, service, subsets, rule, push)
            if verdict.matched:
                found.append(Exposure(gateway, gateway_urls(gateway, vs, routers), verdict))
    return tuple(found)


def services_selecting(
    push: PushContext, labels: Mapping[str, str], namespace: str
) -> list[Service]:
    return [
        s
        for s in push.services
        if s.namespace == namespace and s.selector and selects(dict(s.selector), labels)
    ]


def describe_service(
    push: PushContext,
    service: Service,
    pods: Sequence[Mapping[str, str]],
    namespace: str,
    routers: Sequence[ProxyState] = (),
    client: Mapping[str, str] | None = None,
) -> ServiceDescription:
    """What the mesh does to traffic for `service` that reaches `pods` (their labels), as a
    sidecar in `namespace` sees it (with the labels `client`: the DestinationRule its labels
    select, as `istioctl x describe pod` reads the pod's own proxy; else one no rule selects)."""
    if client is not None:
        rule = push.destination_rule_for(service.hostname, namespace, client, service.namespace)
    else:
        rule = push.destination_rule(service.hostname, namespace, service.namespace, ())
    summary = rule_summary(rule, pods) if rule is not None else None
    subsets = summary.subsets if summary is not None else SubsetMatch()
    vs = push.mesh_virtual_service(service.hostname, namespace)
    verdict = route_verdict(vs, service, subsets, rule, push) if vs is not None else None
    exposed = exposures(push, service, subsets, rule, routers)
    return ServiceDescription(service, summary, verdict, exposed)
