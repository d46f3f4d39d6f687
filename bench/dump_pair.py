"""The generated sidecar pair as static Envoy configs, to take apart piece by piece.

From the config dumps of a live client sidecar (`sleep`) and server sidecar (`nginx`): the
client's `outbound_http_proxy` listener with its route to nginx and nginx's outbound cluster,
the server's inbound listener with its route and inbound cluster, and the sidecars' overload
manager and runtime -- as pilotfish generated them, except that RDS and EDS become inline routes
and static endpoints, SDS secrets become certificate files (`minimal_pair.write_certificates`,
the same identities), and addresses are free loopback ports.

Each variant is one more listener + cluster on each side of one Envoy pair (`VARIANTS`): the
full generated config, and the same without one piece, so the phases of one run say what each
piece costs in CPU per request and latency; `+module...` replaces the stats loggers by the
compiled module of `dynamic_telemetry.py` (a prototype).
"""

from __future__ import annotations

import copy
import json
import urllib.request
from collections.abc import Callable
from typing import Any

from dynamic_telemetry import replace_loggers
from minimal_pair import free_port

TSM = "envoy.transport_sockets.tls"
Config = dict[str, Any]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def config_dump(ip: str) -> Config:
    with DIRECT.open(f"http://{ip}:15000/config_dump", timeout=10) as resp:
        data: Config = json.loads(resp.read())
    return data


def identity_env(dump: Config) -> dict[str, str]:
    """The identity variables the agent gave this Envoy, as its bootstrap declares them
    (`pilotfish.telemetry.identity_env`): a rebuild of its config reads them too."""
    node = _section(dump, "BootstrapConfigDump")["bootstrap"].get("node", {})
    declared = node.get("metadata", {}).get("PILOTFISH_IDENTITY_ENV", {})
    return {str(k): str(v) for k, v in declared.items()}


def _section(dump: Config, kind: str) -> Config:
    for config in dump["configs"]:
        if config["@type"].endswith("." + kind):
            found: Config = config
            return found
    raise KeyError(kind)


def _listener(dump: Config, prefix: str) -> Config:
    for entry in _section(dump, "ListenersConfigDump").get("dynamic_listeners", []):
        listener: Config = entry["active_state"]["listener"]
        if listener["name"].startswith(prefix):
            found = copy.deepcopy(listener)
            found.pop("@type", None)
            return found
    raise KeyError(prefix)


def _route(dump: Config, name: str) -> Config:
    for entry in _section(dump, "RoutesConfigDump").get("dynamic_route_configs", []):
        if entry["route_config"]["name"] == name:
            route: Config = copy.deepcopy(entry["route_config"])
            route.pop("@type", None)
            return route
    raise KeyError(name)


def _cluster(dump: Config, prefix: str) -> Config:
    for entry in _section(dump, "ClustersConfigDump").get("dynamic_active_clusters", []):
        if entry["cluster"]["name"].startswith(prefix):
            cluster: Config = copy.deepcopy(entry["cluster"])
            cluster.pop("@type", None)
            return cluster
    raise KeyError(prefix)


def _files(tls: Config, me: str, certs: str) -> None:
    """SDS `default` and `ROOTCA` in a TLS context -> the certificate files of `me`."""
    common = tls["typed_config"]["common_tls_context"]
    common.pop("tls_certificate_sds_secret_configs", None)
    common["tls_certificates"] = [{
        "certificate_chain": {"filename": f"{certs}/{me}.pem"},
        "private_key": {"filename": f"{certs}/{me}.key"},
    }]  # fmt: skip
    combined = common.pop("combined_validation_context")
    validation = combined["default_validation_context"]
    validation["trusted_ca"] = {"filename": f"{certs}/root.pem"}
    common["validation_context"] = validation


def _endpoint(port: int, tls: bool) -> Config:
    endpoint: Config = {"endpoint": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": port}}}}  # fmt: skip
    if tls:
        endpoint["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": {
            "tlsMode": "istio"}}}  # fmt: skip
    return endpoint


def _hcm(listener: Config) -> list[Config]:
    return [
        f["typed_config"]
        for chain in listener["filter_chains"]
        for f in chain["filters"]
        if f["name"] == "envoy.filters.network.http_connection_manager"
    ]


def client_side(dump: Config, name: str, port: int, server_port: int, certs: str) -> Any:
    """(listener, cluster) of the client sidecar for variant `name`."""
    listener = _listener(dump, "outbound_http_proxy")
    cluster = _cluster(dump, "outbound|8000||nginx.")
    route = _route(dump, "http_proxy")
    route.pop("vhds", None)  # on-demand virtual hosts: the dump holds the ones already fetched
    route["virtual_hosts"] = [vh for vh in route["virtual_hosts"] if "nginx:8000" in vh["domains"]]
    for vh in route["virtual_hosts"]:
        for r in vh["routes"]:
            r["route"]["cluster"] = f"{cluster['name']}|{name}"
    listener["name"] = f"client|{name}"
    listener["address"]["socket_address"] |= {"address": "127.0.0.1", "port_value": port}
    for hcm in _hcm(listener):
        hcm.pop("rds")
        hcm["route_config"] = route
    cluster["name"] = f"{cluster['name']}|{name}"
    cluster["type"] = "STATIC"
    cluster.pop("eds_cluster_config", None)
    cluster["load_assignment"] = {"cluster_name": cluster["name"], "endpoints": [
        {"lb_endpoints": [_endpoint(server_port, True)]}]}  # fmt: skip
    for match in cluster.get("transport_socket_matches", []):
        if match["transport_socket"]["name"] == TSM:
            _files(match["transport_socket"], "client", certs)
    return listener, cluster


def server_side(dump: Config, name: str, port: int, app_port: int, certs: str) -> Any:
    """(listener, cluster) of the server sidecar for variant `name`."""
    listener = _listener(dump, "inbound_")
    cluster = _cluster(dump, "inbound|")
    route = _route(dump, cluster["name"])
    cluster["name"] = f"{cluster['name']}|{name}"
    for vh in route["virtual_hosts"]:
        for r in vh["routes"]:
            r["route"]["cluster"] = cluster["name"]
    listener["name"] = f"server|{name}"
    listener["address"]["socket_address"] |= {"address": "127.0.0.1", "port_value": port}
    for chain in listener["filter_chains"]:
        if "transport_socket" in chain:
            _files(chain["transport_socket"], "server", certs)
    for hcm in _hcm(listener):
        hcm.pop("rds")
        hcm["route_config"] = copy.deepcopy(route)
    cluster["load_assignment"]["cluster_name"] = cluster["name"]
    cluster["load_assignment"]["endpoints"] = [{"lb_endpoints": [_endpoint(app_port, False)]}]
    return listener, cluster


def _drop_filters(*names: str) -> Callable[[Config, Config], None]:
    def drop(listener: Config, cluster: Config) -> None:
        for hcm in _hcm(listener):
            hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] not in names]
            for vh in hcm["route_config"]["virtual_hosts"]:
                for name in names:
                    vh.get("typed_per_filter_config", {}).pop(name, None)

    return drop


def _no_stats(listener: Config, cluster: Config) -> None:
    for hcm in _hcm(listener):
        hcm.pop("access_log", None)


def _metric_tags(change: Callable[[str], str | None]) -> Callable[[Config, Config], None]:
    """Each stats-logger tag's format changed by `change` (None: the tag goes)."""

    def edit(listener: Config, cluster: Config) -> None:
        for hcm in _hcm(listener):
            for log in hcm.get("access_log", []):
                config = log["typed_config"]
                for kind in ("histograms", "counters", "gauges"):
                    for metric in config.get(kind, []):
                        tags = metric["stat"].get("tags", [])
                        for tag in tags:
                            tag["value_format"] = change(tag["value_format"])
                        metric["stat"]["tags"] = [t for t in tags if t["value_format"] is not None]

    return edit


def _module(grpc_stats: bool) -> Callable[[Config, Config], None]:
    """The stats loggers replaced by the compiled module (`dynamic_telemetry`): the same series,
    the tag formatted once per request; without `grpc_stats`, no grpc_stats filter either."""

    def change(listener: Config, cluster: Config) -> None:
        replaced = [replace_loggers(hcm, grpc_stats) for hcm in _hcm(listener)]
        if not any(replaced):
            raise ValueError(f"no stats logger to replace in {listener['name']}")
        if not grpc_stats:
            _drop_filters("envoy.filters.http.grpc_stats")(listener, cluster)

    return change


def _no_peer_metadata(listener: Config, cluster: Config) -> None:
    _drop_filters("envoy.filters.http.header_to_metadata", "pilotfish.peer_identity")(
        listener, cluster
    )
    for hcm in _hcm(listener):
        hcm["route_config"].pop("response_headers_to_add", None)


def _peer_rules_plain(listener: Config, cluster: Config) -> None:
    """header_to_metadata copies the peer header as it came, without the regex rewrite."""
    for hcm in _hcm(listener):
        for f in hcm["http_filters"]:
            if f["name"] == "envoy.filters.http.header_to_metadata":
                config = f["typed_config"]
                for rule in config.get("request_rules", []) + config.get("response_rules", []):
                    rule.get("on_header_present", {}).pop("regex_value_rewrite", None)


IDENTITY = "pilotfish.peer_identity"
PEER = "x-pilotfish-peer-metadata"
IDLE = (
    "envoy.filters.http.grpc_stats",
    "envoy.filters.http.fault",
    "envoy.filters.http.cors",
    "envoy.filters.http.dynamic_forward_proxy",
)


def _no_peer_sending(listener: Config, cluster: Config) -> None:
    """The peer read as now, but nothing sent: no identity filter, no response header."""
    _drop_filters(IDENTITY)(listener, cluster)
    for hcm in _hcm(listener):
        hcm["route_config"].pop("response_headers_to_add", None)


def _identity_header(listener: Config) -> Config | None:
    for hcm in _hcm(listener):
        for f in hcm["http_filters"]:
            if f["name"] == IDENTITY:
                found: Config = f["typed_config"]["mutations"]["request_mutations"][0]["append"]
                return found
    return None


def _identity_on_routes(listener: Config, cluster: Config) -> None:
    """The identity header added by the route configuration instead of the filter."""
    append = _identity_header(listener)
    _drop_filters(IDENTITY)(listener, cluster)
    for hcm in _hcm(listener):
        if append is not None:
            hcm["route_config"].setdefault("request_headers_to_add", []).append(append)


def _identity_from_listener(listener: Config, cluster: Config) -> None:
    """The identity kept in the listener's metadata, sent by the (shareable) route
    configuration with `%METADATA(LISTENER:...)%`."""
    append = _identity_header(listener)
    _drop_filters(IDENTITY)(listener, cluster)
    if append is None:
        return
    listener["metadata"] = {"filter_metadata": {"pilotfish.peer": {
        "identity": append["header"]["value"]}}}  # fmt: skip
    header = {"key": PEER, "value": "%METADATA(LISTENER:pilotfish.peer:identity)%"}
    for hcm in _hcm(listener):
        hcm["route_config"].setdefault("request_headers_to_add", []).append(
            {"header": header, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        )


def _idle_disabled(listener: Config, cluster: Config) -> None:
    """The idle filters stay in the chain, `disabled: true` (no route turns them on)."""
    for hcm in _hcm(listener):
        for f in hcm["http_filters"]:
            if f["name"] in IDLE:
                f["disabled"] = True


def _no_exchange_removal(listener: Config, cluster: Config) -> None:
    """No peer exchange at all, the header only removed by the route configuration (both
    ways), as a pair with no consumer of the peer would have it."""
    _no_peer_metadata(listener, cluster)
    for hcm in _hcm(listener):
        hcm["route_config"]["request_headers_to_remove"] = [PEER]
        hcm["route_config"]["response_headers_to_remove"] = [PEER]


def _upstream_from_eds(listener: Config, cluster: Config) -> None:
    """The client learns the server from its endpoint's metadata (`%UPSTREAM_METADATA%`, as the
    TCP metrics do), not from a response header: no response header, no reading filter on the
    client side."""
    for hcm in _hcm(listener):
        route = hcm["route_config"]
        for header in route.pop("response_headers_to_add", []):
            if header["header"]["key"] != PEER:
                route.setdefault("response_headers_to_add", []).append(header)
        filters = hcm["http_filters"]
        for f in list(filters):
            reader = f["name"] == "envoy.filters.http.header_to_metadata"
            if reader and "response_rules" in f["typed_config"]:
                filters.remove(f)
        if listener["name"].startswith("client|"):
            text = json.dumps(hcm.get("access_log", [])).replace(
                "%DYNAMIC_METADATA(pilotfish.peer:identity)%", "%UPSTREAM_METADATA(pilotfish:peer)%"
            )
            hcm["access_log"] = json.loads(text)
    if not listener["name"].startswith("client|"):
        return
    for group in cluster.get("load_assignment", {}).get("endpoints", []):
        for endpoint in group.get("lb_endpoints", []):
            filter_metadata = endpoint.setdefault("metadata", {}).setdefault("filter_metadata", {})
            filter_metadata["pilotfish"] = {"peer": "nginx;default;nginx;v1;nginx;v1;Kubernetes"}


def _cheap_exchange(listener: Config, cluster: Config) -> None:
    """`+upstream-from-eds` and the server's reading without its regex (on the mTLS chain the
    header comes from a sidecar, which sends only safe characters)."""
    _upstream_from_eds(listener, cluster)
    _peer_rules_plain(listener, cluster)


def _grpc_stats_matcher(listener: Config, cluster: Config) -> None:
    """grpc_stats behind a matcher that skips it unless the content type is gRPC's."""
    grpc = {"single_predicate": {
        "input": {"name": "content-type", "typed_config": {
            "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput",
            "header_name": "content-type"}},
        "value_match": {"prefix": "application/grpc"}}}  # fmt: skip
    skip = {"name": "skip", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.common.matcher.action.v3.SkipFilter"
    }}  # fmt: skip
    for hcm in _hcm(listener):
        for f in hcm["http_filters"]:
            if f["name"] == "envoy.filters.http.grpc_stats":
                f["typed_config"] = {
                    "@type": "type.googleapis.com/envoy.extensions.common.matching.v3."
                    "ExtensionWithMatcher",
                    "extension_config": {"name": f["name"], "typed_config": f["typed_config"]},
                    "xds_matcher": {"matcher_list": {"matchers": [{
                        "predicate": {"not_matcher": grpc}, "on_match": {"action": skip}}]}},
                }  # fmt: skip


def _server(listener: Config) -> bool:
    return bool(listener["name"].startswith("server|"))


def _server_reading(replacement: Config | None) -> Callable[[Config, Config], None]:
    """The server's `header_to_metadata` replaced (`replacement`, or nothing), the header
    removed by the inbound route configuration instead."""

    def change(listener: Config, cluster: Config) -> None:
        if not _server(listener):
            return
        for hcm in _hcm(listener):
            filters = hcm["http_filters"]
            names = [f["name"] for f in filters]
            if "envoy.filters.http.header_to_metadata" not in names:
                continue  # the server reads no peer (its metrics are off)
            at = names.index("envoy.filters.http.header_to_metadata")
            filters[at : at + 1] = [replacement] if replacement else []
            hcm["route_config"]["request_headers_to_remove"] = [PEER]
            if replacement:
                text = json.dumps(hcm.get("access_log", [])).replace(
                    "%DYNAMIC_METADATA(pilotfish.peer:identity)%",
                    "%FILTER_STATE(pilotfish.peer:PLAIN)%",
                )
                hcm["access_log"] = json.loads(text)

    return change


FILTER_STATE_READER = {
    "name": "envoy.filters.http.set_filter_state",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
        "on_request_headers": [{
            "object_key": "pilotfish.peer",
            "factory_key": "envoy.string",
            "format_string": {"text_format_source": {"inline_string": f"%REQ({PEER})%"}},
            "skip_if_empty": True,
        }],
    },
}  # fmt: skip


def _server_removal_by(remover: Config) -> Callable[[Config, Config], None]:
    """A server that reads no peer (metrics off): the header removed by the filter `remover`
    (first in the chain) instead of by its route configuration."""

    def change(listener: Config, cluster: Config) -> None:
        if not _server(listener):
            return
        for hcm in _hcm(listener):
            route = hcm["route_config"]
            if PEER not in route.get("request_headers_to_remove", []):
                continue  # the server reads the peer: its reading filter removes the header
            route["request_headers_to_remove"].remove(PEER)
            hcm["http_filters"].insert(0, remover)

    return change


MUTATION_REMOVER = {
    "name": "pilotfish.peer_removal",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3."
        "HeaderMutation",
        "mutations": {"request_mutations": [{"remove": PEER}]},
    },
}


def _no_server_grpc_stats(listener: Config, cluster: Config) -> None:
    if _server(listener):
        _drop_filters("envoy.filters.http.grpc_stats")(listener, cluster)


def _no_xfcc(listener: Config, cluster: Config) -> None:
    for hcm in _hcm(listener):
        hcm.pop("forward_client_cert_details", None)
        hcm.pop("set_current_client_cert_details", None)


def _default_hcm(listener: Config, cluster: Config) -> None:
    keep = ("@type", "stat_prefix", "route_config", "http_filters", "access_log")
    for hcm in _hcm(listener):
        for key in [k for k in hcm if k not in keep]:
            if key != "http_protocol_options":
                hcm.pop(key)


def _plain_routes(listener: Config, cluster: Config) -> None:
    for hcm in _hcm(listener):
        for vh in hcm["route_config"]["virtual_hosts"]:
            vh.pop("include_request_attempt_count", None)
            for r in vh["routes"]:
                r.pop("decorator", None)
                r["route"] = {"cluster": r["route"]["cluster"]}


def _plain_cluster(listener: Config, cluster: Config) -> None:
    for key in ("circuit_breakers", "lb_policy", "metadata"):
        cluster.pop(key, None)


def _plain_tls(listener: Config, cluster: Config) -> None:
    """No TLS inspector, filter chain match, ALPN or SNI: one TLS chain, as the minimal pair."""
    listener.pop("listener_filters", None)
    chains = listener["filter_chains"]
    listener["filter_chains"] = [c for c in chains if "transport_socket" in c] or chains
    sockets = [c["transport_socket"] for c in listener["filter_chains"] if "transport_socket" in c]
    for chain in listener["filter_chains"]:
        chain.pop("filter_chain_match", None)
        chain.pop("name", None)
    for match in cluster.get("transport_socket_matches", []):
        if match["transport_socket"]["name"] == TSM:
            sockets.append(match["transport_socket"])
    for socket in sockets:
        socket["typed_config"].pop("sni", None)
        socket["typed_config"]["common_tls_context"].pop("alpn_protocols", None)


EVERY_PIECE = (
    "-stats", "-peer-metadata", "-authz", "-idle-filters", "-hcm-settings", "-route-extras",
    "-cluster-extras", "-tls-extras",
)  # fmt: skip


def _everything(listener: Config, cluster: Config) -> None:
    for name in EVERY_PIECE:
        VARIANTS[name](listener, cluster)


Variant = Callable[[Config, Config], None]
VARIANTS: dict[str, Variant] = {
    "full": lambda listener, cluster: None,
    "-stats": _no_stats,
    "-peer-metadata": _no_peer_metadata,
    "-peer-regex": _peer_rules_plain,
    "-peer-reading": _drop_filters("envoy.filters.http.header_to_metadata"),
    "-authz": _drop_filters(
        "pilotfish.authz.path",
        "pilotfish.authz.audit",
        "pilotfish.authz.deny",
        "pilotfish.authz.allow",
    ),
    "-idle-filters": _drop_filters(
        "envoy.filters.http.grpc_stats",
        "envoy.filters.http.fault",
        "envoy.filters.http.cors",
        "envoy.filters.http.dynamic_forward_proxy",
    ),
    # what the metrics' pieces cost (attribution only: these change Istio's labels; -local-san
    # writes the bench mesh's server identity where the operator would print it)
    "-grpc-stats": _drop_filters("envoy.filters.http.grpc_stats"),
    # the HTTP proxy listener's forward proxy filter, there under REGISTRY_ONLY too (idle)
    "-dfp": _drop_filters("envoy.filters.http.dynamic_forward_proxy"),
    "-metric-operators": _metric_tags(lambda fmt: "x" * len(fmt)),
    "-metric-tags": _metric_tags(lambda fmt: None),
    "-local-san": _metric_tags(
        lambda fmt: fmt.replace(
            "%DOWNSTREAM_LOCAL_URI_SAN%", "spiffe://cluster.local/ns/default/sa/nginx"
        )
    ),
    "-hcm-settings": _default_hcm,
    # candidate levers (issue 9 item 6)
    "-peer-sending": _no_peer_sending,
    "+route-identity": _identity_on_routes,
    "+listener-identity": _identity_from_listener,
    "+idle-disabled": _idle_disabled,
    "-exchange+removal": _no_exchange_removal,
    "-xfcc": _no_xfcc,
    "+upstream-from-eds": _upstream_from_eds,
    "+cheap-exchange": _cheap_exchange,
    "+grpc-stats-matcher": _grpc_stats_matcher,
    "+server-filter-state": _server_reading(FILTER_STATE_READER),
    "-server-reading+removal": _server_reading(None),
    "-server-grpc-stats": _no_server_grpc_stats,
    "+server-mutation-removal": _server_removal_by(MUTATION_REMOVER),
    "-route-extras": _plain_routes,
    "-cluster-extras": _plain_cluster,
    "-tls-extras": _plain_tls,
    "-all": _everything,
    # the metrics from a compiled module instead of the stats loggers (a prototype, bench only)
    "+module": _module(True),
    "+module-no-grpc-stats": _module(False),
}


def pair_configs(
    client_dump: Config,
    server_dump: Config,
    app_port: int,
    certs: str,
    names: list[str],
    more: tuple[Config, Config, str] | None = None,
) -> tuple[Config, Config, dict[str, int]]:
    """The client and server Envoy bootstraps with one listener + cluster per variant, and the
    client port of each variant. `more`: a second pair of dumps (e.g. the same mesh with its
    metrics off) whose variants are added too, named with its suffix."""
    sides: dict[str, Config] = {}
    ports: dict[str, int] = {}
    for side, dump in (("client", client_dump), ("server", server_dump)):
        boot = _section(dump, "BootstrapConfigDump")["bootstrap"]
        sides[side] = {
            "admin": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}
            },
            "static_resources": {"listeners": [], "clusters": []},
            **{k: boot[k] for k in ("overload_manager", "layered_runtime") if k in boot},
        }
    dumps = [(client_dump, server_dump, ""), *([more] if more else [])]
    for (client, server, suffix), name in ((d, n) for d in dumps for n in names):
        if suffix and name.startswith("+module"):
            continue  # a replacement of the metrics: nothing to replace with them off
        key = name + suffix
        server_port, ports[key] = free_port(), free_port()
        for side, (listener, cluster) in (
            ("client", client_side(client, key, ports[key], server_port, certs)),
            ("server", server_side(server, key, server_port, app_port, certs)),
        ):
            VARIANTS[name](listener, cluster)
            sides[side]["static_resources"]["listeners"].append(listener)
            sides[side]["static_resources"]["clusters"].append(cluster)
    return sides["client"], sides["server"], ports
