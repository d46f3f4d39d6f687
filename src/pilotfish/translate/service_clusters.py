"""One service's outbound clusters, as `outbound` builds them into blocks: its cluster specs under
the DestinationRule that applies to it (`service_unit`: each port, and each port times each of
the rule's subsets, with the policy Istio merges for each, `traffic_policy.effective_policy`,
and what translation notes about the rule: a repeated subset, PASSTHROUGH, locality settings a
DNS service cannot apply), and the cluster of one spec (`pooled_cluster`: the one without its
connection pool, a `Carry` unit a pool-only change reuses, with the pool put on a copy).
Pure."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import DestinationRule, Diagnostic
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Protocol, Service
from pilotfish.translate import clusters as cluster_builders
from pilotfish.translate import locality_lb, mesh_tls, service_entries
from pilotfish.translate.carry import Carry
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.istio_metadata import config_path
from pilotfish.translate.traffic_policy import effective_policy

if TYPE_CHECKING:
    from pilotfish.config.models.networking import Subset
    from pilotfish.config.models.networking.destination_rule import ConnectionPoolSettings


@dataclass(frozen=True)
class ServiceUnit:
    specs: tuple[OutboundClusterSpec, ...]
    diagnostics: tuple[Diagnostic, ...]


def service_unit(service: Service, rule: DestinationRule | None) -> ServiceUnit:
    """One service's cluster specs under `rule`: each port, and each port times each subset."""
    diagnostics: list[Diagnostic] = []
    top = rule.spec.traffic_policy if rule is not None else None
    subsets = _subsets(rule, diagnostics) if rule is not None else []
    named = config_path(rule.meta) if rule is not None else ""
    selected = rule is not None and rule.spec.workload_selector is not None
    specs: list[OutboundClusterSpec] = []
    for port in service.ports:
        if port.protocol == Protocol.UDP:  # Istio builds no cluster for a UDP port
            continue
        base = OutboundClusterSpec(
            service,
            port,
            policy=effective_policy(top, None, port.port),
            rule=named,
            selected=selected,
        )
        specs.append(base)
        if rule is not None and _passthrough(base):
            diagnostics.append(_passthrough_note(rule, service.hostname, port.port))
        for subset in subsets:
            specs.append(
                OutboundClusterSpec(
                    service,
                    port,
                    subset=subset.name or "",
                    subset_labels=cluster_builders.subset_labels(subset),
                    policy=effective_policy(top, subset.traffic_policy, port.port),
                    rule=named,
                    selected=selected,
                )
            )
    if rule is not None and service.resolution in service_entries.DNS_RESOLUTIONS:
        diagnostics.extend(locality_lb.unapplied(rule, specs))
    return ServiceUnit(tuple(specs), tuple(diagnostics))


def _passthrough(spec: OutboundClusterSpec) -> bool:
    lb = spec.policy.load_balancer
    return lb is not None and lb.simple == "PASSTHROUGH"


def _passthrough_note(rule: DestinationRule, host: str, port: int) -> Diagnostic:
    """Istio's PASSTHROUGH sends a connection to the address the caller dialled. Captured pods
    (`up --isolated`) have it (a service name's cluster IP, which their kube-proxy rules then
    take to one of its instances); apps that use their sidecar as HTTP proxy reach services by
    name, so there is no such address."""
    return rule.diagnostic(
        f"loadBalancer PASSTHROUGH for {host}:{port} needs the address the caller dialled: only "
        "pods of an isolated mesh (`up --isolated`) have one; requests from apps that use their "
        "sidecar as HTTP proxy (the mesh without --isolated) get 503",
        "spec.trafficPolicy.loadBalancer.simple",
    )


def _subsets(rule: DestinationRule, diagnostics: list[Diagnostic]) -> list[Subset]:
    kept: dict[str, Subset] = {}
    for index, subset in enumerate(rule.spec.subsets or ()):
        if not subset.name or subset.name in kept:
            message = f"subset {subset.name!r} is unnamed or repeated: ignored"
            diagnostics.append(rule.diagnostic(message, f"spec.subsets[{index}]"))
            continue
        kept[subset.name] = subset
    return list(kept.values())


def pooled_cluster(
    spec: OutboundClusterSpec, push: PushContext, carry: Carry, settings: Hashable
) -> Message:
    """The cluster of `spec`: the one of the same service port and subset without a connection
    pool (a unit keyed by the content of the policy's other parts, so a rule whose new version
    changes only its pool, as a mesh-wide change of every rule's pool does, reuses it), with
    the pool applied to a copy (`clusters.with_pool`)."""
    policy = spec.policy
    others: Hashable = (policy.load_balancer, policy.outlier_detection, policy.tls)
    try:
        hash(others)
    except TypeError:  # a part holds a mapping (a locality setting's `to`): by identity
        others = tuple(
            id(part) for part in (policy.load_balancer, policy.outlier_detection, policy.tls)
        )
    unpooled = carry.unit(
        push,
        (
            "pilotfish.translate.outbound.unpooled",
            *(id(spec.service), spec.port, spec.subset, spec.rule, others, settings),
        ),
        lambda: _cluster(replace(spec, policy=replace(policy, connection_pool=None)), push),
        keep=(spec.service, policy),
    )
    pool = policy.connection_pool
    if pool is None:
        return unpooled
    return cluster_builders.with_pool(
        cast(cluster_pb2.Cluster, unpooled), spec, _settings(pool, push)
    )


def _settings(pool: ConnectionPoolSettings, push: PushContext) -> cluster_builders.PoolSettings:
    """`pool_settings(pool)`, once per content in a push context (every rule of a mesh-wide
    change may set the same pool), looked up by the object first (the specs of one rule share
    its pool: no hash or comparison of the model for them)."""
    by_object = ("pilotfish.translate.outbound.pool_object", id(pool))
    known: tuple[ConnectionPoolSettings, cluster_builders.PoolSettings] | None
    known = push.memo.get(by_object)
    if known is None or known[0] is not pool:
        key = ("pilotfish.translate.outbound.pool", pool)  # the content: one per push for all
        found: cluster_builders.PoolSettings | None = push.memo.get(key)
        if found is None:
            found = push.memo[key] = cluster_builders.pool_settings(pool)
        known = push.memo[by_object] = (pool, found)
    return known[1]


def _cluster(spec: OutboundClusterSpec, push: PushContext) -> Message:
    cluster = cluster_builders.outbound_cluster(spec)
    locality_lb.apply_to_cluster(cluster, spec.policy, push.mesh)
    mesh_tls.apply_mesh_tls(cluster, spec, push)
    return cluster
