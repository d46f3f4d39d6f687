"""`proxy-config cluster|listener|route|endpoint POD`'s tables as istioctl prints them (Istio's
"Debugging Envoy and Istiod" page), from the resources `proxy_config_filters` selected and
ordered. Input is Envoy's admin JSON (proto field names).

Clusters: SERVICE FQDN PORT SUBSET DIRECTION TYPE DESTINATION RULE, from the `DIRECTION|PORT|
SUBSET|FQDN` name (others by name, `-` for the rest; an inbound cluster's FQDN is empty); TYPE
the discovery type (STATIC for a custom cluster type, as Go's GetType); DESTINATION RULE
(`reviews.default`) from the cluster's `istio` metadata (`config`), as istioctl reads it.

Listeners: one row per filter chain, ADDRESSES PORT MATCH DESTINATION (ADDRESSES: the address
and the additional ones, `,`-joined), a listener's chains by DESTINATION, last first.

MATCH says the chain's match in istioctl's words (`SNI: …`, `Trans: tls`, `App: HTTP`,
`App: Istio HTTP Plain`, `Addr: 10.0.0.1/32:9080`, `ALL` when it matches everything);
DESTINATION where the chain sends it: `Route: NAME` (RDS), `Inline Route: /healthz/ready*` (a
route configuration of its own), `Cluster: NAME` or a `…Cluster` by its name (TCP proxy), else
`Non-HTTP/Non-TCP`.

Endpoints: ENDPOINT STATUS OUTLIER CHECK CLUSTER, ENDPOINT `ADDRESS:PORT` (a pipe's
`unix://PATH` alone).

Routes: one row per route (a route to PassthroughCluster left out, a virtual host without routes
as `/*` `404`), NAME VHOST NAME DOMAINS MATCH VIRTUAL SERVICE; DOMAINS the first two without a
port, short forms preferred (`reviews, reviews.default + 1 more...`); VIRTUAL SERVICE from the
route's `istio` metadata (`config`) when it carries one.
"""

from __future__ import annotations

from typing import Any

from pilotfish.cli.proxy_config_filters import (
    BLACK_HOLE,
    HCM,
    TCP_PROXY,
    chains,
    endpoint_address,
    endpoint_port,
    endpoint_status,
    listener_addresses,
    listener_port,
)

APP_PROTOCOLS = {  # istioctl's names for the ALPN lists Istio's chains match
    ("http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2"): (
        "App: HTTP TLS"
    ),
    ("istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"): "App: Istio HTTP Plain",
    ("istio-peer-exchange", "istio"): "App: TCP TLS",
    ("http/1.0", "http/1.1", "h2c"): "App: HTTP",
}


def describe_match(match: dict[str, Any] | None) -> str:
    match = match or {}
    words = []
    if match.get("server_names"):
        words.append("SNI: " + ",".join(match["server_names"]))
    if match.get("transport_protocol"):
        words.append(f"Trans: {match['transport_protocol']}")
    if match.get("application_protocols"):
        protocols = tuple(match["application_protocols"])
        words.append(APP_PROTOCOLS.get(protocols) or "App: " + ",".join(protocols))
    port = f":{match['destination_port']}" if match.get("destination_port") else ""
    if match.get("prefix_ranges"):
        ranges = ",".join(
            f"{r.get('address_prefix', '')}/{r.get('prefix_len', 0)}"
            for r in match["prefix_ranges"]
        )
        words.append(f"Addr: {ranges}{port}")
    elif port:
        words.append(f"Addr: *{port}")
    return "; ".join(words) or "ALL"


def _route_match(match: dict[str, Any]) -> str:
    words = []
    if match.get("prefix"):
        words.append(f"{match['prefix']}*")
    if match.get("path_separated_prefix"):
        words.append(f"PathPrefix:{match['path_separated_prefix']}")
    if match.get("path"):
        words.append(match["path"])
    if match.get("safe_regex"):
        words.append(f"regex {match['safe_regex'].get('regex', '')}")
    return " ".join(words)


def _cluster_words(cluster: str) -> str:
    return cluster if "Cluster" in cluster else f"Cluster: {cluster}"


def describe_route_config(config: dict[str, Any]) -> str:
    hosts = config.get("virtual_hosts", [])
    if (
        len(hosts) == 1
        and hosts[0].get("domains") == ["*"]
        and len(hosts[0].get("routes", [])) == 1
    ):
        only = hosts[0]["routes"][0]
        cluster = only.get("route", {}).get("cluster")
        if only.get("match", {}).get("prefix") == "/" and cluster:
            return _cluster_words(cluster)
    described = []
    for host in hosts:
        routes = ", ".join(_route_match(r.get("match", {})) for r in host.get("routes", []))
        domains = host.get("domains", [])
        described.append(routes if domains == ["*"] else f"{'/'.join(domains)} {routes}")
    return "Inline Route: " + "; ".join(described)


def describe_destination(filters: list[dict[str, Any]]) -> str:
    for item in filters:
        config = item.get("typed_config", {})
        if item.get("name") == HCM:
            if config.get("route_config") is not None:
                return describe_route_config(config["route_config"])
            name = config.get("rds", {}).get("route_config_name", "")
            return f"Route: {name}" if name else "HTTP"
        if item.get("name") == TCP_PROXY and config.get("cluster") != BLACK_HOLE:
            return _cluster_words(str(config.get("cluster", "")))
    return "Non-HTTP/Non-TCP"


def listener_rows(listeners: list[dict[str, Any]]) -> list[list[str]]:
    """istioctl's listener table (verbose, its default) of `listeners`, in their order."""
    rows = [["ADDRESSES", "PORT", "MATCH", "DESTINATION"]]
    for listener in listeners:
        described = [
            (
                describe_match(c.get("filter_chain_match")),
                describe_destination(c.get("filters", [])),
            )
            for c in chains(listener) or [{}]  # a listener without chains: one row still
        ]
        addresses = ",".join(listener_addresses(listener))
        for match, destination in sorted(described, key=lambda pair: pair[1], reverse=True):
            rows.append([addresses, str(listener_port(listener)), match, destination])
    return rows


def _short_domains(domains: list[str]) -> str:
    if len(domains) <= 1:
        return "".join(domains)
    bare = [d for d in domains if ":" not in d or (d.count(":") > 2 and d.endswith("]"))]
    present = set(bare)
    longer = {
        d
        for d in bare
        for short in (d.removesuffix(".svc.cluster.local"), d.removesuffix(".svc"))
        if short != d and short in present
    }
    kept = [d for d in bare if d not in longer]
    if len(kept) > 2:
        return f"{', '.join(kept[:2])} + {len(kept) - 2} more..."
    return ", ".join(kept)


def managed_by(resource: dict[str, Any]) -> str:
    """istioctl's `describeManagement`: the Istio config a route or cluster was built from,
    `name.namespace`, from its `istio` metadata's `config` path (`/apis/networking.istio.io/v1/
    namespaces/NS/KIND/NAME`); `<unknown>` for a path of another group, "" for none."""
    path = str(
        resource.get("metadata", {}).get("filter_metadata", {}).get("istio", {}).get("config", "")
    )
    if not path:
        return ""
    pieces = path.split("/")
    if not path.startswith("/apis/networking.istio.io/"):
        return "<unknown>"
    return f"{pieces[7]}.{pieces[5]}" if len(pieces) == 8 else ""


def route_rows(configs: list[dict[str, Any]]) -> list[list[str]]:
    """istioctl's route table (verbose, its default) of route configurations, in their order."""
    rows = [["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"]]
    for config in configs:
        name = str(config.get("name", ""))
        for host in config.get("virtual_hosts", []):
            head = [name, str(host.get("name", "")), _short_domains(host.get("domains", []))]
            for route in host.get("routes", []):
                if route.get("route", {}).get("cluster") != "PassthroughCluster":
                    rows.append([*head, _route_match(route.get("match", {})), managed_by(route)])
            if not host.get("routes"):
                rows.append([*head, "/*", "404"])
    return rows


def cluster_rows(clusters: list[dict[str, Any]]) -> list[list[str]]:
    """istioctl's cluster table of `clusters`, in their order."""
    rows = [["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"]]
    for cluster in clusters:
        name = str(cluster.get("name", ""))
        kind = str(cluster.get("type") or "STATIC")
        parts = name.split("|")
        rule = managed_by(cluster)
        if len(parts) > 3:
            port = str(int(parts[1])) if parts[1].isdigit() else "0"
            rows.append([parts[3], port, parts[2] or "-", parts[0], kind, rule])
        else:
            rows.append([name, "-", "-", "-", kind, rule])
    return rows


def endpoint_rows(hosts: list[tuple[dict[str, Any], str]]) -> list[list[str]]:
    """istioctl's endpoint table of (host, cluster name) pairs, in their order."""
    rows = [["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]]
    for host, cluster in hosts:
        port = endpoint_port(host)
        address = endpoint_address(host) + (f":{port}" if port else "")
        ejected = "FAILED" if host.get("health_status", {}).get("failed_outlier_check") else "OK"
        rows.append([address, endpoint_status(host), ejected, cluster])
    return rows
