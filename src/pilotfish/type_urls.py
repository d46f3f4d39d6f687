"""The xDS v3 resource types pilotfish serves: type URLs, short names and resource naming.

A leaf both `translate` (which builds resources) and `xds` (which serves them) import, so the
facts live once: the six type URLs (LDS, RDS, CDS, EDS, SDS, VHDS), the type of a message, and the
name Envoy knows a resource by (a `ClusterLoadAssignment` by its `cluster_name`, the others by
`name`). Imports nothing from pilotfish, and no generated Envoy module.
"""

from __future__ import annotations

from google.protobuf.message import Message

PREFIX = "type.googleapis.com/"
LISTENER = PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
VIRTUAL_HOST = PREFIX + "envoy.config.route.v3.VirtualHost"
"""VHDS: virtual hosts a route configuration gets on demand (`translate.on_demand_routes`)."""
RESOURCE_TYPES: tuple[str, ...] = (LISTENER, ROUTE, CLUSTER, ENDPOINT, SECRET, VIRTUAL_HOST)
HEALTH_INFO = PREFIX + "istio.v1.HealthInformation"
"""Istio's agent reports its workload's health probe (WorkloadGroup `probe`) as a request of
this type on its xDS stream: no `error_detail` is healthy, one is unhealthy with its message."""

ADMIN_SELF_CLUSTER = "admin_self"
"""A static cluster of every proxy's bootstrap (agent): the proxy's own Envoy admin, :15000."""
STATS_SELF_CLUSTER = "stats_self"
"""A static cluster of every proxy's bootstrap (agent): the proxy's own 15090, Envoy's Prometheus
page with Istio's names and labels."""
BOOTSTRAP_CLUSTERS = frozenset({ADMIN_SELF_CLUSTER, STATS_SELF_CLUSTER})
"""Clusters Envoy holds without xDS, which generated routes may name."""

SHORT_NAMES: dict[str, str] = {
    LISTENER: "lds",
    ROUTE: "rds",
    CLUSTER: "cds",
    ENDPOINT: "eds",
    SECRET: "sds",
    VIRTUAL_HOST: "vhds",
}


def short_name(type_url: str) -> str:
    """`lds`/`rds`/`cds`/`eds`/`sds`/`vhds` for a known type URL, else the URL's last segment."""
    return SHORT_NAMES.get(type_url, type_url.rsplit(".", 1)[-1])


def type_url_of(message: Message) -> str:
    """The type URL of a resource pilotfish serves; TypeError for any other message."""
    type_url = PREFIX + str(message.DESCRIPTOR.full_name)
    if type_url not in SHORT_NAMES:
        raise TypeError(f"not an xDS resource pilotfish generates: {type(message).__name__}")
    return type_url


def resource_name(type_url: str, resource: Message) -> str:
    """The name Envoy uses for `resource`: `cluster_name` for endpoints, `name` otherwise."""
    if type_url == ENDPOINT:
        return str(getattr(resource, "cluster_name"))  # noqa: B009 - protobuf field
    return str(getattr(resource, "name"))  # noqa: B009 - protobuf field
