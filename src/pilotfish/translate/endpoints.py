"""Endpoints: one `ClusterLoadAssignment` (keyed by `cluster_name`) per outbound EDS cluster.

The registry's endpoints for the service port, minus instances that are not ready (as Istio
leaves out not-ready pods), filtered by the subset's labels, grouped by locality as Istio groups
them (one `LocalityLbEndpoints` per `region/zone/subzone`, sorted; with no locality anywhere, one
group without locality, as before); each carries the instance name and service account as
metadata under `pilotfish`, for workloads of the mesh their identity
(`telemetry.labels.endpoint_fields`: a TCP client's peer labels), and `tlsMode: istio` under
`envoy.transport_socket_match` when auto mTLS may use mTLS to it (`mesh_tls`). Priorities and
locality weights relative to the asking proxy are `locality_lb`'s.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf import struct_pb2

from pilotfish.config.locality import split
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Endpoint
from pilotfish.telemetry.exchange import identity
from pilotfish.telemetry.labels import ENDPOINT_METADATA, endpoint_fields
from pilotfish.translate import mesh_tls
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.envoy_pb import socket_address

METADATA_NAMESPACE = ENDPOINT_METADATA


def selected_endpoints(spec: OutboundClusterSpec, push: PushContext) -> list[Endpoint]:
    """The ready endpoints of the spec's service port that its subset's labels select."""
    wanted = dict(spec.subset_labels)
    return [
        e
        for e in push.endpoints(spec.service, spec.port)
        if e.healthy and all(dict(e.labels).get(k) == v for k, v in wanted.items())
    ]


def locality_groups(
    spec: OutboundClusterSpec, push: PushContext
) -> list[tuple[str, list[Endpoint], ep_pb2.LocalityLbEndpoints]]:
    """(locality, its endpoints, their group), by locality; a group's weight is its number of
    endpoints (each weighs 1, as Istio's) when some endpoint has a locality."""
    selected = selected_endpoints(spec, push)
    by_locality: dict[str, list[Endpoint]] = {}
    for endpoint in selected:
        by_locality.setdefault(endpoint.locality, []).append(endpoint)
    namespace = spec.service.namespace
    weighted = any(by_locality)  # some endpoint has a locality
    groups = []
    for locality in sorted(by_locality):
        members = by_locality[locality]
        group = ep_pb2.LocalityLbEndpoints(
            lb_endpoints=[_lb_endpoint(e, namespace, push) for e in members]
        )
        if locality:
            region, zone, subzone = split(locality)
            group.locality.CopyFrom(base_pb2.Locality(region=region, zone=zone, sub_zone=subzone))
        if weighted:
            group.load_balancing_weight.value = len(members)
        groups.append((locality, members, group))
    return groups


def load_assignment(
    spec: OutboundClusterSpec, push: PushContext
) -> endpoint_pb2.ClusterLoadAssignment:
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=spec.name, endpoints=[group for _, _, group in locality_groups(spec, push)]
    )


def _lb_endpoint(endpoint: Endpoint, namespace: str, push: PushContext) -> ep_pb2.LbEndpoint:
    fields = struct_pb2.Struct()
    fields.update({"instance": endpoint.instance, "service_account": endpoint.service_account})
    if endpoint.workload:
        peer = identity(dict(endpoint.labels), endpoint.workload, endpoint.namespace)
        fields.update(endpoint_fields(peer))
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[METADATA_NAMESPACE].CopyFrom(fields)
    mesh_tls.mark_endpoint(metadata, endpoint, namespace, push)
    return ep_pb2.LbEndpoint(
        endpoint=ep_pb2.Endpoint(address=socket_address(endpoint.address, endpoint.port)),
        health_status=health_check_pb2.HEALTHY,
        metadata=metadata,
    )
