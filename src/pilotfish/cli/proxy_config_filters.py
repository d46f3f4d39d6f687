"""Which resources `proxy-config cluster|listener|route|endpoint POD` shows, and in what order,
as istioctl's config writers choose them (istioctl/pkg/writer/envoy/configdump, .../clusters).
Input is Envoy's admin JSON (proto field names); the same selection feeds the tables and
`-o json|yaml`.

Filters (the flags' values, "" for unset), as istioctl's `Verify` functions read them:
- clusters: `--fqdn`, `--direction`, `--subset` are substrings of the cluster's name, `--port N`
  is `|N|` in it (so `--fqdn httpbin` finds `outbound|8000||httpbin.default.svc.cluster.local`);
- listeners: `--address` equals (case aside) the address or one of the additional addresses,
  `--port` the port, `--type` (HTTP, TCP, HTTP+TCP, UNKNOWN; case aside) the listener's type;
- routes: `--name` equals the route configuration's name;
- endpoints: `--address` (case aside; a pipe is `unix://PATH`), `--port`, `--cluster` (case
  aside), `--status` (HEALTHY, …, case aside).

Order: clusters by service FQDN, subset, port, direction (names that are not `DIR|PORT|SUBSET|
FQDN` by name); listeners by port, address, type; route configurations dynamic then static,
a numeric name (`9080`) before the
numeric ones above it as Go's insertion sort moves it; endpoints by address, port, cluster.
"""

from __future__ import annotations

from typing import Any

BLACK_HOLE = "BlackHoleCluster"
HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"


def _split_cluster(name: str) -> tuple[str, str, int, str]:
    """(fqdn, subset, port, direction) of a cluster name, as istioctl's safelyParseSubsetKey."""
    parts = name.split("|")
    if len(parts) > 3:
        port = int(parts[1]) if parts[1].isdigit() else 0
        return parts[3], parts[2], port, parts[0]
    return name, "", 0, ""


def clusters(section: dict[str, Any], filters: dict[str, str] | None = None) -> list[Any]:
    """A ClustersConfigDump's clusters (active dynamic and static) the filters select, sorted."""
    entries = section.get("dynamic_active_clusters", []) + section.get("static_clusters", [])
    found = [e["cluster"] for e in entries if e.get("cluster")]
    kept = [c for c in found if cluster_passes(str(c.get("name", "")), filters or {})]
    return sorted(kept, key=lambda c: _split_cluster(str(c.get("name", ""))))


def cluster_passes(name: str, filters: dict[str, str]) -> bool:
    for flag in ("fqdn", "direction", "subset"):
        if filters.get(flag) and filters[flag] not in name:
            return False
    port = filters.get("port")
    return not port or f"|{port}|" in name


def chains(listener: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(listener.get("filter_chains", []))
    if listener.get("default_filter_chain"):
        found.append(listener["default_filter_chain"])
    return found


def listener_type(listener: dict[str, Any]) -> str:
    """istioctl's HTTP, TCP, HTTP+TCP or UNKNOWN (a TCP proxy to BlackHoleCluster not counted)."""
    names = [f.get("name") for c in chains(listener) for f in c.get("filters", [])]
    tcp = [
        f
        for c in chains(listener)
        for f in c.get("filters", [])
        if f.get("name") == TCP_PROXY and f.get("typed_config", {}).get("cluster") != BLACK_HOLE
    ]
    if HCM in names:
        return "HTTP+TCP" if tcp else "HTTP"
    return "TCP" if tcp else "UNKNOWN"


def listener_address(listener: dict[str, Any]) -> str:
    found = listener.get("address", {})
    return str(
        found.get("socket_address", {}).get("address") or found.get("pipe", {}).get("path", "")
    )


def listener_addresses(listener: dict[str, Any]) -> list[str]:
    """The address, then the additional addresses (istioctl's ADDRESSES column, `,`-joined)."""
    extra = [
        str(a.get("address", {}).get("socket_address", {}).get("address", ""))
        for a in listener.get("additional_addresses", [])
    ]
    return [listener_address(listener), *extra]


def listener_port(listener: dict[str, Any]) -> int:
    return int(listener.get("address", {}).get("socket_address", {}).get("port_value", 0))


def listeners(section: dict[str, Any], filters: dict[str, str] | None = None) -> list[Any]:
    """A ListenersConfigDump's listeners (active dynamic and static) the filters select."""
    entries = section.get("dynamic_listeners", []) + section.get("static_listeners", [])
    found = [e.get("listener") or e.get("active_state", {}).get("listener") for e in entries]
    kept = [item for item in found if item and listener_passes(item, filters or {})]
    return sorted(kept, key=lambda x: (listener_port(x), listener_address(x), listener_type(x)))


def listener_passes(listener: dict[str, Any], filters: dict[str, str]) -> bool:
    address, port, kind = filters.get("address"), filters.get("port"), filters.get("type")
    if address and address.lower() not in (a.lower() for a in listener_addresses(listener)):
        return False
    if port and str(listener_port(listener)) != port:
        return False
    return not kind or listener_type(listener).lower() == kind.lower()


def _number_first(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """istioctl's route `less`: two numeric names by number; false for any other pair."""
    x, y = str(a.get("name", "")), str(b.get("name", ""))
    return x.isdigit() and y.isdigit() and int(x) < int(y)


def _go_insertion_sort(items: list[Any]) -> list[Any]:
    """Go's sort.Slice on a short slice (its insertion sort), which a `less` that is not an
    ordering (istioctl's for route names) makes visible: each item moves left past the ones
    it is less than, stopping at the first it is not."""
    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and _number_first(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def route_configs(section: dict[str, Any], filters: dict[str, str] | None = None) -> list[Any]:
    """A RoutesConfigDump's route configurations (dynamic, then static) `--name` selects."""
    entries = section.get("dynamic_route_configs", []) + section.get("static_route_configs", [])
    name = (filters or {}).get("name")
    found = [e["route_config"] for e in entries if e.get("route_config")]
    kept = [c for c in found if not name or c.get("name") == name]
    return _go_insertion_sort(kept)


def endpoint_address(host: dict[str, Any]) -> str:
    """istioctl's endpoint address: the socket's IP, `unix://PATH` for a pipe,
    `envoy://LISTENER/ID` for an internal address, else `unknown`."""
    address = host.get("address", {})
    if "socket_address" in address:
        return str(address["socket_address"].get("address", ""))
    if "pipe" in address:
        return "unix://" + str(address["pipe"].get("path", ""))
    internal = address.get("envoy_internal_address")
    if internal and internal.get("server_listener_name"):
        return f"envoy://{internal['server_listener_name']}/{internal.get('endpoint_id', '')}"
    return "unknown"


def endpoint_port(host: dict[str, Any]) -> int:
    return int(host.get("address", {}).get("socket_address", {}).get("port_value", 0))


def endpoint_status(host: dict[str, Any]) -> str:
    """The host's EDS health as Envoy's admin reports it (HEALTHY when it says nothing)."""
    return str(host.get("health_status", {}).get("eds_health_status", "HEALTHY"))


def endpoint_passes(host: dict[str, Any], cluster: str, filters: dict[str, str]) -> bool:
    address, port = filters.get("address"), filters.get("port")
    if address and endpoint_address(host).lower() != address.lower():
        return False
    if port and str(endpoint_port(host)) != port:
        return False
    if filters.get("cluster") and cluster.lower() != filters["cluster"].lower():
        return False
    return not filters.get("status") or endpoint_status(host).lower() == filters["status"].lower()


def endpoint_hosts(
    statuses: dict[str, Any], filters: dict[str, str] | None = None
) -> list[tuple[dict[str, Any], str]]:
    """(host, cluster name) of /clusters' hosts the filters select, in istioctl's order."""
    found = [
        (host, str(cluster.get("name", "")))
        for cluster in statuses.get("cluster_statuses", [])
        for host in cluster.get("host_statuses", [])
        if endpoint_passes(host, str(cluster.get("name", "")), filters or {})
    ]
    return sorted(found, key=lambda p: (endpoint_address(p[0]), endpoint_port(p[0]), p[1]))


def endpoint_clusters(statuses: dict[str, Any], filters: dict[str, str] | None = None) -> list[Any]:
    """istioctl's `endpoint -o json`: the ClusterStatuses with a host the filters select."""
    return [
        cluster
        for cluster in statuses.get("cluster_statuses", [])
        if any(
            endpoint_passes(host, str(cluster.get("name", "")), filters or {})
            for host in cluster.get("host_statuses", [])
        )
    ]
