"""`proxy-config cluster|listener|route`'s tables in istioctl's words (Istio's "Debugging Envoy and
Istiod" page): the rows the page shows for a sidecar's 15006 listener, its TCP and HTTP
listeners, its route table, and the cluster table's DESTINATION RULE column."""

from __future__ import annotations

from typing import Any

from pilotfish.cli.envoy_tables import cluster_rows, listener_rows, route_rows
from pilotfish.cli.proxy_config import table
from pilotfish.cli.proxy_config_filters import clusters, listeners, route_configs

HCM = "envoy.filters.network.http_connection_manager"
TCP = "envoy.filters.network.tcp_proxy"
ISTIO_PLAIN = ["istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]
HTTP = ["http/1.0", "http/1.1", "h2c"]
MGMT = "inbound|15021|mgmt-15021|mgmtCluster"
ANY = {"address_prefix": "0.0.0.0", "prefix_len": 0}
PLAIN = "App: Istio HTTP Plain; Addr: 10.244.0.22/32:9080"


def tcp(cluster: str) -> dict[str, Any]:
    return {"filters": [{"name": TCP, "typed_config": {"cluster": cluster}}]}


def inline(*routes: dict[str, Any], domains: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    config = {"virtual_hosts": [{"domains": list(domains), "routes": list(routes)}]}
    return {"filters": [{"name": HCM, "typed_config": {"route_config": config}}]}


def listener(address: str, port: int, *chains: dict[str, Any]) -> dict[str, Any]:
    found = {"address": {"socket_address": {"address": address, "port_value": port}}}
    return {"active_state": {"listener": found | {"filter_chains": list(chains)}}}


def test_listener_rows_say_each_chains_match_and_destination() -> None:
    pod = {"address_prefix": "10.244.0.22", "prefix_len": 32}
    virtual_inbound = listener(
        "0.0.0.0", 15006,
        {"filter_chain_match": {"prefix_ranges": [pod], "destination_port": 15021}}
        | inline({"match": {"prefix": "/"}, "route": {"cluster": MGMT}}),
        {"filter_chain_match": {"prefix_ranges": [pod], "destination_port": 9080,
                                "application_protocols": ISTIO_PLAIN}}
        | inline({"match": {"prefix": "/"}, "direct_response": {"status": 200}}),
        {"filter_chain_match": {"transport_protocol": "tls", "prefix_ranges": [ANY],
                                "application_protocols": HTTP + ISTIO_PLAIN[1:]}}
        | tcp("InboundPassthroughClusterIpv4"),
        {"filter_chain_match": {"server_names": ["a.example", "b.example"],
                                "destination_port": 443}}
        | tcp("BlackHoleCluster"),
    )  # fmt: skip
    dns = listener("10.96.0.10", 53, tcp("outbound|53||kube-dns.kube-system.svc.cluster.local"))
    http = listener(
        "0.0.0.0", 9080,
        {"filter_chain_match": {"application_protocols": HTTP},
         "filters": [{"name": HCM, "typed_config": {"rds": {"route_config_name": "9080"}}}]},
        tcp("PassthroughCluster"),
    )  # fmt: skip
    health = listener("0.0.0.0", 15021, inline({"match": {"prefix": "/healthz/ready"}}))
    section = {"dynamic_listeners": [virtual_inbound, health, http, dns]}
    assert listener_rows(listeners(section)) == [
        ["ADDRESSES", "PORT", "MATCH", "DESTINATION"],
        ["10.96.0.10", "53", "ALL", "Cluster: outbound|53||kube-dns.kube-system.svc.cluster.local"],
        ["0.0.0.0", "9080", "App: HTTP", "Route: 9080"],
        ["0.0.0.0", "9080", "ALL", "PassthroughCluster"],
        ["0.0.0.0", "15006", "Addr: 10.244.0.22/32:15021", MGMT],
        ["0.0.0.0", "15006", "SNI: a.example,b.example; Addr: *:443", "Non-HTTP/Non-TCP"],
        ["0.0.0.0", "15006", PLAIN, "Inline Route: /*"],
        ["0.0.0.0", "15006", "Trans: tls; App: HTTP TLS; Addr: 0.0.0.0/0",
         "InboundPassthroughClusterIpv4"],
        ["0.0.0.0", "15021", "ALL", "Inline Route: /healthz/ready*"],
    ]  # fmt: skip


REVIEWS = [
    "reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080", "reviews",
    "reviews:9080", "reviews.default.svc", "reviews.default.svc:9080", "reviews.default",
    "reviews.default:9080", "10.98.88.0", "10.98.88.0:9080",
]  # fmt: skip
VS_PATH = "/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/reviews"


def test_route_rows_shorten_domains_and_name_the_virtual_service() -> None:
    routed = {
        "match": {"prefix": "/"},
        "route": {"cluster": "outbound|9080|v1|reviews.default.svc.cluster.local"},
        "metadata": {"filter_metadata": {"istio": {"config": VS_PATH}}},
    }
    passthrough = {"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster"}}
    config = {
        "name": "9080",
        "virtual_hosts": [
            {"name": "reviews.default.svc.cluster.local:9080", "domains": REVIEWS,
             "routes": [{"match": {"path": "/login"}}, routed]},
            {"name": "allow_any", "domains": ["*"], "routes": [passthrough]},
            {"name": "block_all", "domains": ["*"], "routes": []},
        ],
    }  # fmt: skip
    vhost, domains = (
        "reviews.default.svc.cluster.local:9080",
        "reviews, reviews.default + 1 more...",
    )
    assert route_rows(route_configs({"dynamic_route_configs": [{"route_config": config}]})) == [
        ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"],
        ["9080", vhost, domains, "/login", ""],
        ["9080", vhost, domains, "/*", "reviews.default"],
        ["9080", "block_all", "*", "/*", "404"],
    ]


def _istio(config: str) -> dict[str, Any]:
    return {"filter_metadata": {"istio": {"config": config}}} if config else {}


def test_cluster_rows_name_the_destination_rule_the_cluster_metadata_names() -> None:
    """As istioctl: the column is the cluster's own `istio.config` (what the proxy holds, not
    what the control plane would resolve now), `name.namespace`; a path of another API group
    is `<unknown>`; a cluster without one (no rule, the specials) has an empty column."""
    rule = "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews"
    named = [
        ("outbound|9080|v1|reviews.default.svc.cluster.local", rule),
        ("outbound|9080||ratings.default.svc.cluster.local", ""),
        ("inbound|9080||", "/apis/networking.istio.io/v1/namespaces/bar/destination-rule/in"),
        ("outbound|80||odd.default.svc.cluster.local", "/apis/other.io/v1/namespaces/x/k/n"),
        ("BlackHoleCluster", ""),
    ]
    section = {
        "dynamic_active_clusters": [
            {"cluster": {"name": n, "type": "EDS", "metadata": _istio(c)}} for n, c in named
        ]
    }
    assert cluster_rows(clusters(section)) == [  # istioctl's order: FQDN, subset, port, …
        ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"],
        ["", "9080", "-", "inbound", "EDS", "in.bar"],  # an inbound cluster names no FQDN
        ["BlackHoleCluster", "-", "-", "-", "EDS", ""],
        ["odd.default.svc.cluster.local", "80", "-", "outbound", "EDS", "<unknown>"],
        ["ratings.default.svc.cluster.local", "9080", "-", "outbound", "EDS", ""],
        ["reviews.default.svc.cluster.local", "9080", "v1", "outbound", "EDS", "reviews.default"],
    ]


def test_tables_are_padded_and_ordered_as_istioctls_writers() -> None:
    """istioctl's tabwriters: padding 5 for clusters, routes and endpoints, 1 for listeners;
    clusters by FQDN, subset, port, direction (the static ones among them by name, STATIC for
    a custom cluster type); endpoints by address, port, cluster, a pipe as `unix://PATH`;
    route configurations dynamic first, a numeric name moved before greater numeric ones."""
    section = {
        "static_clusters": [
            {"cluster": {"name": "sds-grpc", "type": "STATIC"}},
            {"cluster": {"name": "PassthroughCluster", "cluster_type": {"name": "x.dfp"}}},
        ],
        "dynamic_active_clusters": [
            {"cluster": {"name": "outbound|9080|v2|reviews.default.svc.cluster.local",
                         "type": "EDS"}},
            {"cluster": {"name": "outbound|80||reviews.default.svc.cluster.local",
                         "type": "EDS"}},
        ],
    }  # fmt: skip
    assert table("cluster", section, {}).split("\n") == [
        "SERVICE FQDN                          PORT     SUBSET     DIRECTION     TYPE       "
        "DESTINATION RULE",
        "PassthroughCluster                    -        -          -             STATIC     ",
        "reviews.default.svc.cluster.local     80       -          outbound      EDS        ",
        "reviews.default.svc.cluster.local     9080     v2         outbound      EDS        ",
        "sds-grpc                              -        -          -             STATIC     ",
    ]
    pipe = {"address": {"pipe": {"path": "./etc/istio/proxy/XDS"}}}
    statuses = {
        "cluster_statuses": [
            {"name": "xds-grpc", "host_statuses": [pipe]},
            {"name": "b", "host_statuses": [
                {"address": {"socket_address": {"address": "10.0.0.9", "port_value": 80}}},
                {"address": {"socket_address": {"address": "10.0.0.10", "port_value": 80}},
                 "health_status": {"eds_health_status": "UNHEALTHY",
                                   "failed_outlier_check": True}},
            ]},
        ]
    }  # fmt: skip
    assert table("endpoint", statuses, {}).split("\n") == [
        "ENDPOINT                         STATUS        OUTLIER CHECK     CLUSTER",
        "10.0.0.10:80                     UNHEALTHY     FAILED            b",
        "10.0.0.9:80                      HEALTHY       OK                b",
        "unix://./etc/istio/proxy/XDS     HEALTHY       OK                xds-grpc",
    ]
    assert table("endpoint", statuses, {"status": "unhealthy"}).count("\n") == 1
    assert table("endpoint", statuses, {"address": "UNIX://./etc/istio/proxy/XDS"}).count("\n") == 1
    health = listener("10.0.0.1", 15021, inline({"match": {"prefix": "/healthz/ready"}}))
    health["active_state"]["listener"]["additional_addresses"] = [
        {"address": {"socket_address": {"address": "fd00::1", "port_value": 15021}}}
    ]
    assert table("listener", {"dynamic_listeners": [health]}, {}).split("\n") == [
        "ADDRESSES        PORT  MATCH DESTINATION",
        "10.0.0.1,fd00::1 15021 ALL   Inline Route: /healthz/ready*",
    ]
    assert (
        table("listener", {"dynamic_listeners": [health]}, {"address": "fd00::1"}).count("\n") == 1
    )
    assert table("listener", {"dynamic_listeners": [health]}, {"type": "tcp"}).count("\n") == 0
    routes = {
        "static_route_configs": [{"route_config": {"name": "static"}}],
        "dynamic_route_configs": [
            {"route_config": {"name": n}} for n in ("9080", "80", "http_proxy", "70")
        ],
    }
    found = [c["name"] for c in route_configs(routes)]  # Go's sort.Slice, which stops at names
    assert found == ["80", "9080", "http_proxy", "70", "static"]
