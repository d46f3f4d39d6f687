"""Locality load balancing (Istio's `localityLbSetting`): endpoint priorities and locality
weights relative to the asking proxy's locality, and the cluster setting they need.

Which setting applies to a cluster (Istio's GetLocalityLbSetting): its DestinationRule's
(`loadBalancer.localityLbSetting` after the port-level and subset merge), none when that says
`enabled: false`; else the mesh's `localityLbSetting` (Istio's default `{enabled: true}`), none
when it says `enabled: false`. Then (Istio's ApplyLocalityLoadBalancer), one of:
- `distribute`: the first rule whose `from` matches the proxy's locality sets each matching
  group's weight to its share of the rule's weight (`ceil(group weight * weight / total)`); the
  groups no `to` names lose their endpoints. The cluster gets `locality_weighted_lb_config`.
- failover, only with `outlierDetection` (else Envoy would never leave priority 0): with
  `failoverPriority`, each group is split by how many of the listed labels (`label` or
  `label=value`) the endpoint shares with the proxy, in order (all: 0, the first differing
  decides); then (and with `failover` too when both are set) the priority by locality: same
  region/zone/subzone 0, region/zone 1, region 2, other regions 3, and 4 for a region the
  proxy's region fails over away from (`failover: [{from, to}]`); priorities are compacted to
  0..N. The cluster gets `locality_weighted_lb_config` when `failover` or `failoverPriority` is
  set.

Sharing: clusters do not depend on the proxy. Endpoints do only for the clusters where a setting
applies and can tell proxies apart (`distribute`, `failoverPriority`, or failover with some
endpoint in a locality); `localized(block, proxy, push)` is the block itself when there is none
(every mesh that does not use locality), else one part per (block, proxy locality, the proxy's
values of the failoverPriority labels), shared by the proxies that have the same. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf.message import Message

from pilotfish.config.locality import augmented, joined, split
from pilotfish.config.models.networking.destination_rule import (
    Distribute,
    Failover,
    LocalityLoadBalancerSetting,
)
from pilotfish.config.objects import DestinationRule, Diagnostic
from pilotfish.model.mesh import MeshConfig
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Endpoint
from pilotfish.translate.carry import carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.endpoints import locality_groups
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.service_entries import carries_endpoints
from pilotfish.translate.traffic_policy import EffectivePolicy
from pilotfish.type_urls import CLUSTER, ENDPOINT

if TYPE_CHECKING:
    from pilotfish.translate.outbound import OutboundBlock

_MESH_DEFAULT = LocalityLoadBalancerSetting(enabled=True)


def setting(policy: EffectivePolicy, mesh: MeshConfig) -> LocalityLoadBalancerSetting | None:
    """The locality setting that applies to a cluster with this policy (None: none)."""
    lb = policy.load_balancer
    rule = lb.locality_lb_setting if lb is not None else None
    if rule is not None:
        return None if rule.enabled is False else rule
    found = mesh.locality_lb_setting or _MESH_DEFAULT
    return None if found.enabled is False else found


def apply_to_cluster(
    cluster: cluster_pb2.Cluster, policy: EffectivePolicy, mesh: MeshConfig
) -> None:
    """Envoy's locality-weighted balancing where the setting distributes, or fails over with
    outlier detection (Istio sets it only then: it changes how LEAST_REQUEST picks)."""
    found = setting(policy, mesh)
    if found is None:
        return
    failover = policy.outlier_detection is not None
    if found.distribute or (failover and (found.failover or found.failover_priority)):
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()


def unapplied(rule: DestinationRule, specs: Sequence[OutboundClusterSpec]) -> list[Diagnostic]:
    """What `apply` says of a rule whose locality setting reaches clusters that carry their
    endpoints themselves (ServiceEntry `resolution: DNS`): Istio applies it to them; here their
    endpoints are one group and it is not applied."""
    hosts = sorted(
        {
            f"{s.service.hostname}:{s.port.port}"
            for s in specs
            if carries_endpoints(s.service, s.port) and _asks(s.policy)
        }
    )
    if not hosts:
        return []
    message = (
        f"localityLbSetting is not applied to {', '.join(hosts)}: clusters of a ServiceEntry "
        "with DNS resolution carry their endpoints in one group here (no locality priorities "
        "or weights)"
    )
    return [rule.diagnostic(message, "spec.trafficPolicy.loadBalancer.localityLbSetting")]


def _asks(policy: EffectivePolicy) -> bool:
    """The rule's own setting asks for priorities or weights."""
    lb = policy.load_balancer
    found = lb.locality_lb_setting if lb is not None else None
    if found is None or found.enabled is False:
        return False
    failover = policy.outlier_detection is not None
    return bool(found.distribute or (failover and (found.failover or found.failover_priority)))


def proxy_dependent(
    policy: EffectivePolicy, mesh: MeshConfig, endpoints: Callable[[], Sequence[Endpoint]]
) -> LocalityLoadBalancerSetting | None:
    """The setting when the cluster's endpoints differ between proxies by where they are
    (`endpoints` is called only for a failover without failoverPriority)."""
    found = setting(policy, mesh)
    if found is None or not (found.distribute or policy.outlier_detection is not None):
        return None
    if found.distribute or found.failover_priority or any(e.locality for e in endpoints()):
        return found
    return None


def localized(block: OutboundBlock, proxy: Proxy, push: PushContext) -> ProxyResources:
    """The block's resources with the endpoints of the clusters whose priorities or weights
    depend on where `proxy` is, for `proxy` (the block's own when there is none)."""
    carry = carry_of(push)
    dependent: Mapping[str, LocalityLoadBalancerSetting] = carry.unit(
        push,
        ("pilotfish.translate.locality_lb.dependent", id(block)),
        lambda: _dependent(block, push),
        keep=block,
    )
    if not dependent:
        return block.resources
    labels = sorted({_label(p) for s in dependent.values() for p in s.failover_priority})
    mine = augmented(proxy.label_map, proxy.locality)
    # a proxy without labels gets no failoverPriority split (Istio's), so that is key too
    key = (proxy.locality, tuple((label, mine.get(label)) for label in labels), bool(mine))
    return carry.unit(
        push,
        ("pilotfish.translate.locality_lb.part", id(block), key),
        lambda: _part(block, dependent, push, key, mine),
        keep=block,
    )


def _dependent(block: OutboundBlock, push: PushContext) -> dict[str, LocalityLoadBalancerSetting]:
    found = {}
    for name, spec in block.specs.items():
        if name not in block.resources[ENDPOINT]:
            continue  # a DNS or forward-proxy cluster: no EDS
        endpoints = partial(push.endpoints, spec.service, spec.port)
        chosen = proxy_dependent(spec.policy, push.mesh, endpoints)
        if chosen is not None:
            found[name] = chosen
    return found


def _part(
    block: OutboundBlock,
    dependent: Mapping[str, LocalityLoadBalancerSetting],
    push: PushContext,
    where: tuple[str, tuple[tuple[str, str | None], ...], bool],
    labels: Mapping[str, str],
) -> ProxyResources:
    """`where`: the proxy's locality and its values of the failoverPriority labels (all that
    the assignments read of the proxy); `labels`: its labels, topology included. Each
    assignment is a `Carry` unit keyed by the block's own assignment for the cluster (the same
    object while its endpoints and the mesh settings are) and the setting object."""
    carry, locality = carry_of(push), where[0]
    endpoints: dict[str, Message] = dict(block.resources[ENDPOINT])
    for name, chosen in dependent.items():
        spec, plain = block.specs[name], endpoints[name]
        endpoints[name] = carry.unit(
            push,
            ("pilotfish.translate.locality_lb.assignment", name, id(plain), id(chosen), where),
            lambda spec=spec, chosen=chosen: assignment(spec, push, chosen, locality, labels),  # type: ignore[misc]
            keep=(plain, chosen),
        )
    return ProxyResources({CLUSTER: block.resources[CLUSTER], ENDPOINT: endpoints})


def assignment(
    spec: OutboundClusterSpec,
    push: PushContext,
    chosen: LocalityLoadBalancerSetting,
    locality: str,
    labels: Mapping[str, str],
) -> endpoint_pb2.ClusterLoadAssignment:
    """The spec's endpoints for a proxy at `locality` with `labels` (topology included)."""
    groups = locality_groups(spec, push)
    for _, _, group in groups:
        if not group.HasField("load_balancing_weight"):
            group.load_balancing_weight.value = len(group.lb_endpoints)
    result = endpoint_pb2.ClusterLoadAssignment(cluster_name=spec.name)
    if chosen.distribute:
        result.endpoints.extend(g for _, _, g in groups)
        _distribute(result, locality, chosen.distribute)
        return result
    if chosen.failover_priority:
        result.endpoints.extend(_by_priority_labels(groups, labels, chosen.failover_priority))
        if chosen.failover:
            _failover(result, locality, chosen.failover)
    else:
        result.endpoints.extend(g for _, _, g in groups)
        _failover(result, locality, chosen.failover)
    return result


def matches(locality: str, rule: str) -> bool:
    """Istio's LocalityMatch: `rule` (`region[/zone[/subzone]]`, `*` for any part) holds for
    `locality`; parts the rule leaves out match anything."""
    wanted, have = split(rule), split(locality)
    return wanted[0] in ("*", have[0]) and all(
        w in ("*", "", h) for w, h in zip(wanted[1:], have[1:], strict=True)
    )


def _group_locality(group: ep_pb2.LocalityLbEndpoints) -> str:
    found = group.locality
    return joined(found.region, found.zone, found.sub_zone)


def _distribute(
    result: endpoint_pb2.ClusterLoadAssignment, locality: str, rules: Sequence[Distribute]
) -> None:
    for rule in rules:
        if not matches(locality, rule.from_ or ""):
            continue
        unmatched = set(range(len(result.endpoints)))
        for destination, weight in rule.to.items():
            original = {
                i: result.endpoints[i].load_balancing_weight.value or 1
                for i in sorted(unmatched)
                if matches(_group_locality(result.endpoints[i]), destination)
            }
            unmatched -= set(original)
            total = sum(original.values())
            for index, before in original.items():
                share = before * weight / total
                if share > 0:
                    result.endpoints[index].load_balancing_weight.value = math.ceil(share)
        for index in unmatched:
            del result.endpoints[index].lb_endpoints[:]
        return


def _lb_priority(proxy: str, endpoint: str) -> int:
    mine, theirs = split(proxy), split(endpoint)
    for level in range(3):
        if mine[level] != theirs[level]:
            return 3 - level
    return 0


def _failover(
    result: endpoint_pb2.ClusterLoadAssignment, locality: str, failover: Sequence[Failover]
) -> None:
    region = split(locality)[0]
    for group in result.endpoints:
        priority = _lb_priority(locality, _group_locality(group))
        if priority == 3:
            for rule in failover:
                if rule.from_ == region:
                    if group.locality.region != rule.to:
                        priority = 4
                    break
        group.priority = group.priority * 5 + priority
    _compact(result.endpoints)


def _compact(groups: Sequence[ep_pb2.LocalityLbEndpoints]) -> None:
    """Priorities 0..N without gaps, in the same order."""
    rank = {p: i for i, p in enumerate(sorted({g.priority for g in groups}))}
    for group in groups:
        group.priority = rank[group.priority]


def _label(entry: str) -> str:
    return entry.split("=", 1)[0]


def _by_priority_labels(
    groups: Sequence[tuple[str, list[Endpoint], ep_pb2.LocalityLbEndpoints]],
    labels: Mapping[str, str],
    priorities: Sequence[str],
) -> list[ep_pb2.LocalityLbEndpoints]:
    """Istio's failoverPriority: each group split by the endpoints' label match with the proxy
    (`label=value` compares with that value instead of the proxy's)."""
    if not labels or not groups:
        return [g for _, _, g in groups]
    wanted = []
    for entry in priorities:
        name, _, value = entry.partition("=")
        wanted.append((name, value if "=" in entry else labels.get(name, "")))
    lowest = len(priorities)
    out: list[ep_pb2.LocalityLbEndpoints] = []
    for locality, members, group in groups:
        by_priority: dict[int, list[int]] = {}
        for index, endpoint in enumerate(members):
            theirs = augmented(dict(endpoint.labels), locality)
            priority = 0
            for position, (name, value) in enumerate(wanted):
                if theirs.get(name, "") != value:
                    priority = lowest - position
                    break
            by_priority.setdefault(priority, []).append(index)
        for priority in sorted(by_priority):
            part = ep_pb2.LocalityLbEndpoints()
            part.CopyFrom(group)
            del part.lb_endpoints[:]
            part.lb_endpoints.extend(group.lb_endpoints[i] for i in by_priority[priority])
            part.priority = priority
            part.load_balancing_weight.value = len(by_priority[priority])
            out.append(part)
    _compact(out)
    return out
