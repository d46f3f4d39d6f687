"""Names of generated resources, in Istio's formats where Istio has one.

`outbound|9080|v1|reviews.default.svc.cluster.local` (direction|port|subset|host) for clusters,
`inbound|9080||` for the local app behind a sidecar, fixed names for the special clusters and
route configurations.
"""

from __future__ import annotations

from collections.abc import Collection

from envoy.config.route.v3 import route_components_pb2 as rc_pb2

from pilotfish.type_urls import ADMIN_SELF_CLUSTER as ADMIN_SELF_CLUSTER
from pilotfish.type_urls import BOOTSTRAP_CLUSTERS as BOOTSTRAP_CLUSTERS
from pilotfish.type_urls import STATS_SELF_CLUSTER as STATS_SELF_CLUSTER

BLACKHOLE_CLUSTER = "BlackHoleCluster"
PASSTHROUGH_CLUSTER = "PassthroughCluster"
INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster"  # captured pods: undeclared ports
OUTBOUND_HTTP_PROXY_LISTENER = "outbound_http_proxy"
OUTBOUND_WS_PROXY_LISTENER = "outbound_ws_proxy"  # a pod's WS_PROXY (`ws://` request lines)
HTTP_PROXY_ROUTE_CONFIG = "http_proxy"
DEFAULT_ROUTE = "default"
ALLOW_ANY_VHOST = "allow_any"
BLOCK_ALL_VHOST = "block_all"
BLACKHOLE_VHOST = "blackhole"  # Istio's host name for a gateway port's empty route config
DNS_CACHE_NAME = "pilotfish_passthrough_dns_cache"
POD_LOCAL_VHOST = "pod_local"
VIRTUAL_OUTBOUND_LISTENER = "virtualOutbound"  # captured pods: 0.0.0.0:15001
VIRTUAL_INBOUND_LISTENER = "virtualInbound"  # captured pods: 0.0.0.0:15006


def outbound_port_listener(port: int) -> str:
    """Istio's per-port HTTP listener of a captured pod, `0.0.0.0_9080` (bind_to_port false)."""
    return f"0.0.0.0_{port}"


def outbound_port_route_config(port: int) -> str:
    """Istio's outbound route configuration of a captured pod's HTTP port, `9080`."""
    return str(port)


def outbound_cluster(port: int, host: str, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{host}"


def parse_outbound_cluster(name: str) -> tuple[int, str, str] | None:
    """(port, subset, host) of an outbound cluster name, or None if it is not one."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != "outbound" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3]


def route_operation(route: rc_pb2.Route, vs_name: str, port: int) -> str:
    """Istio's span name for a VirtualService route (GetRouteOperation), its decorator: the
    match's path (`<prefix>*`, the exact path, the regex; else `/*`) after `<host>:<port>` of
    its one destination cluster, else after `<VirtualService name>:<listener port>`."""
    match = route.match
    path = {"prefix": f"{match.prefix}*", "path": match.path}.get(
        match.WhichOneof("path_specifier") or "", "/*"
    )
    if match.WhichOneof("path_specifier") == "safe_regex":
        path = match.safe_regex.regex
    parsed = parse_outbound_cluster(route.route.cluster) if route.HasField("route") else None
    if parsed is not None:
        return f"{parsed[2]}:{parsed[0]}{path}"
    return f"{vs_name}:{port}{path}"


def names_outbound_host(names: Collection[str], hosts: frozenset[str]) -> bool:
    """Whether one of `names` is an outbound cluster of one of `hosts` (as parsed by
    `parse_outbound_cluster`); names whose last field is none of them are set aside first."""
    if hosts.isdisjoint({name.rpartition("|")[2] for name in names}):
        return False
    return any((p := parse_outbound_cluster(n)) is not None and p[2] in hosts for n in names)


def inbound_cluster(port: int) -> str:
    return f"inbound|{port}||"


def inbound_route_config(port: int) -> str:
    return f"inbound|{port}||"


def inbound_listener(ip: str, port: int) -> str:
    return f"inbound_{ip}_{port}"


def outbound_tcp_listener(ip: str, port: int) -> str:
    return f"outbound_{ip}_{port}"


def outbound_vip_listener(vip: str, port: int) -> str:
    """Istio's outbound TCP listener for a service's cluster IP in a captured pod."""
    return f"{vip}_{port}"


def gateway_tls_route_config(port: int, gateway: str, server: int) -> str:
    """RDS name of one HTTPS server: `https.<port>.<server index>.<gateway ns>/<name>`."""
    return f"https.{port}.{server}.{gateway}"


def sds_credential(name: str) -> str:
    """SDS name of a gateway `credentialName` (Istio's `kubernetes://` form)."""
    return f"kubernetes://{name}"


def sds_credential_ca(name: str) -> str:
    return f"kubernetes://{name}-cacert"


def gateway_listener(port: int) -> str:
    return f"0.0.0.0_{port}"


def gateway_route_config(port: int) -> str:
    return f"http.{port}"


def vhost(host: str, port: int) -> str:
    return f"{host}:{port}"
