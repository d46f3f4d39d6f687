"""Endpoints: one `ClusterLoadAssignment` (keyed by `cluster_name`) per outbound EDS cluster.

The registry's endpoints for the service port, minus instances that are not ready (as Istio
leaves out not-ready pods), filtered by the subset's labels; each carries the instance name and
service account as metadata under `pilotfish`, for workloads of the mesh their identity
(`telemetry.labels.endpoint_fields`: a TCP client's peer labels), and `tlsMode: istio` under
`envoy.transport_socket_match` when auto mTLS may use mTLS to it (`mesh_tls`).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ep_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf import struct_pb2

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Endpoint
from pilotfish.telemetry.exchange import identity
from pilotfish.telemetry.labels import ENDPOINT_METADATA, endpoint_fields
from pilotfish.translate import mesh_tls
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.envoy_pb import socket_address

METADATA_NAMESPACE = ENDPOINT_METADATA


def load_assignment(
    spec: OutboundClusterSpec, push: PushContext
) -> endpoint_pb2.ClusterLoadAssignment:
    wanted = dict(spec.subset_labels)
    selected = [
        e
        for e in push.endpoints(spec.service, spec.port)
        if e.healthy and all(dict(e.labels).get(k) == v for k, v in wanted.items())
    ]
    namespace = spec.service.namespace
    locality = ep_pb2.LocalityLbEndpoints(
        lb_endpoints=[_lb_endpoint(e, namespace, push) for e in selected]
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=spec.name, endpoints=[locality] if selected else []
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
