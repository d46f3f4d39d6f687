"""Builders of small, real Envoy resources and ADS requests for the xds tests (shared by unit, e2e
and bench), and what the SotW and delta stream tests share: addresses, the subscriptions of a
synced sidecar, the single-response check."""

from __future__ import annotations

from typing import TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2

from pilotfish.xds.messages import DeltaResponse, SotwResponse, StreamOutput
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, Snapshot

ADS = config_source_pb2.ConfigSource(ads=config_source_pb2.AggregatedConfigSource())
LISTEN = ("127.0.0.1", 10000)
BACKEND = ("127.0.0.1", 8080)
OTHER_BACKEND = ("127.0.0.1", 8081)
ResponseT = TypeVar("ResponseT", SotwResponse, DeltaResponse)


def socket_address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


def listener(name: str, host: str, port: int, route_name: str) -> listener_pb2.Listener:
    """An HTTP listener whose routes come over RDS (ADS)."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=ADS, route_config_name=route_name),
    )
    manager.http_filters.add(name="envoy.filters.http.router").typed_config.Pack(
        router_pb2.Router()
    )
    built = listener_pb2.Listener(name=name, address=socket_address(host, port))
    chain = built.filter_chains.add()
    chain.filters.add(name="envoy.filters.network.http_connection_manager").typed_config.Pack(
        manager
    )
    return built


def route_to_cluster(name: str, cluster: str) -> route_pb2.RouteConfiguration:
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name="all",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix="/"),
                        route=route_components_pb2.RouteAction(cluster=cluster),
                    )
                ],
            )
        ],
    )


def route_direct(name: str, body: str, status: int = 200) -> route_pb2.RouteConfiguration:
    """A route answering every request itself with `body`."""
    route = route_components_pb2.Route(
        match=route_components_pb2.RouteMatch(prefix="/"),
        direct_response=route_components_pb2.DirectResponseAction(status=status),
    )
    route.direct_response.body.inline_string = body
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[route_components_pb2.VirtualHost(name="all", domains=["*"], routes=[route])],
    )


def eds_cluster(name: str, timeout_ms: int = 250) -> cluster_pb2.Cluster:
    built = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ADS),
    )
    built.connect_timeout.FromMilliseconds(timeout_ms)
    return built


def endpoints(cluster: str, *addresses: tuple[str, int]) -> endpoint_pb2.ClusterLoadAssignment:
    group = endpoint_components_pb2.LocalityLbEndpoints(
        lb_endpoints=[
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(address=socket_address(host, port))
            )
            for host, port in addresses
        ]
    )
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster, endpoints=[group])


def mesh_snapshot(
    listen: tuple[str, int],
    backend: tuple[str, int],
    route: route_pb2.RouteConfiguration | None = None,
    clusters: int = 1,
) -> Snapshot:
    """listener `http` → route `local` → cluster `backend` (+ `backend-N`) → endpoints."""
    names = ["backend"] + [f"backend-{i}" for i in range(1, clusters)]
    return Snapshot(
        {
            LISTENER: {"http": listener("http", listen[0], listen[1], "local")},
            ROUTE: {"local": route or route_to_cluster("local", "backend")},
            CLUSTER: {n: eds_cluster(n) for n in names},
            ENDPOINT: {n: endpoints(n, backend) for n in names},
        }
    )


def every_type_changed(listen: tuple[str, int], backend: tuple[str, int]) -> Snapshot:
    """`mesh_snapshot` of `listen` and another backend with each of its four types changed: the
    listener's port, the route (a direct answer), the cluster's timeout and the endpoints."""
    return Snapshot(
        {
            LISTENER: {"http": listener("http", listen[0], listen[1] + 1, "local")},
            ROUTE: {"local": route_direct("local", "changed")},
            CLUSTER: {"backend": eds_cluster("backend", 900)},
            ENDPOINT: {"backend": endpoints("backend", backend)},
        }
    )


def sotw_request(
    type_url: str,
    names: list[str] | tuple[str, ...] = (),
    version: str = "",
    nonce: str = "",
    node_id: str = "",
    error: str = "",
) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, resource_names=list(names), version_info=version, response_nonce=nonce
    )
    return _with_node_and_error(request, node_id, error)


def delta_request(
    type_url: str,
    subscribe: list[str] | tuple[str, ...] = (),
    unsubscribe: list[str] | tuple[str, ...] = (),
    nonce: str = "",
    node_id: str = "",
    error: str = "",
    initial: dict[str, str] | None = None,
) -> discovery_pb2.DeltaDiscoveryRequest:
    request = discovery_pb2.DeltaDiscoveryRequest(
        type_url=type_url,
        resource_names_subscribe=list(subscribe),
        resource_names_unsubscribe=list(unsubscribe),
        response_nonce=nonce,
        initial_resource_versions=initial or {},
    )
    return _with_node_and_error(request, node_id, error)


RequestT = TypeVar("RequestT", discovery_pb2.DiscoveryRequest, discovery_pb2.DeltaDiscoveryRequest)


def _with_node_and_error(request: RequestT, node_id: str, error: str) -> RequestT:
    """Set the node id and a NACK's error_detail (code 3) on a request, where given."""
    if node_id:
        request.node.id = node_id
    if error:
        request.error_detail.code = 3
        request.error_detail.message = error
    return request


def only_response(output: StreamOutput, kind: type[ResponseT]) -> ResponseT:
    """The one response in `output`, checked to be a `kind`."""
    assert len(output.responses) == 1, output.responses
    response = output.responses[0]
    assert isinstance(response, kind)
    return response


def sync_subscriptions(cluster_names: list[str]) -> tuple[tuple[str, list[str]], ...]:
    """What a sidecar asks for, in Envoy's order, to hold all of `mesh_snapshot`: CDS (wildcard),
    EDS of `cluster_names`, LDS (wildcard), RDS `local`."""
    return ((CLUSTER, []), (ENDPOINT, cluster_names), (LISTENER, []), (ROUTE, ["local"]))
