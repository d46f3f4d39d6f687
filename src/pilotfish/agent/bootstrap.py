"""Envoy's bootstrap for a sidecar or gateway: node identity, admin, ADS, and the static
listeners Istio's pilot-agent also puts there (15090 Prometheus stats, only those Istio's
inclusion lists keep, `config.proxy_stats`; 15021 readiness), with Istio's log line format and
stats tags. `dns_resolvers` (PILOTFISH_DNS_RESOLVERS in the agent's environment: `spec`)
points every DNS lookup of the Envoy at those servers instead of the system's.

Built as data, then parsed into the real `Bootstrap` protobuf so a misspelt field fails here,
not inside Envoy. Pure: no I/O.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2  # noqa: F401  (registers type)
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401  (registers type)
from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401
    http_connection_manager_pb2,
)
from envoy.extensions.network.dns_resolver.cares.v3 import (  # noqa: F401
    cares_dns_resolver_pb2,  # registers the type
)
from envoy.extensions.resource_monitors.downstream_connections.v3 import (  # noqa: F401
    downstream_connections_pb2,  # registers the type
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401  (registers type)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import json_format

from pilotfish.agent.hot_restart import LDS_DRAIN_SECONDS
from pilotfish.agent.ports import ADMIN_PORT, HEALTH_PORT, STATS_PORT
from pilotfish.ca.identity import SDS_CLUSTER
from pilotfish.config.locality import split
from pilotfish.config.proxy_stats import (
    NOT_SET,
    InclusionLists,
    admin_filter,
    inclusion_lists,
    stats_matcher,
)
from pilotfish.model.node import DELTA_XDS_KEY, node_metadata
from pilotfish.model.proxy import Proxy
from pilotfish.telemetry.envoy import alt_stat_name
from pilotfish.telemetry.exchange import identity_of
from pilotfish.telemetry.scrape import expand_lua
from pilotfish.type_urls import ADMIN_SELF_CLUSTER, STATS_SELF_CLUSTER

_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_H2 = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
# Reconnect to a restarted control plane within a second, however long it was away (Envoy's
# default back-off grows to 30 s; Istio's Envoy talks to its local pilot-agent, which reconnects
# to istiod promptly): a change applied right after a restart reaches every proxy.
XDS_RETRY = {"retry_back_off": {"base_interval": "0.1s", "max_interval": "1s"}}
# Istio's runtime defaults (bootstrap `extractRuntimeFlags`): RE2's program size error level, and
# Envoy's global connection limit at Istio's value. Istio sets the limit with the runtime key
# `overload.global_downstream_max_connections`, which Envoy 1.40 deprecates (a warning in every
# envoy.log); the same limit is set here with the resource monitor Envoy names instead.
ISTIO_RUNTIME_FLAGS = {"re2.max_program_size.error_level": "32768"}
# Envoy's Zipkin and OpenTelemetry tracers buffer spans up to 5 s (or 5 spans) and drop the
# buffer, unsent, when the tracer goes with its listener, drained `LDS_DRAIN_SECONDS` after a
# change of tracing provider: they flush many times within the drain instead, so a span finished
# on a draining connection still gets out (measured: 200 ms lost some, 50 ms none of 64 hops
# over 16 provider switches).
TRACER_FLUSH_MS = LDS_DRAIN_SECONDS * 1000 // 20
RUNTIME_FLAGS = {
    **ISTIO_RUNTIME_FLAGS,
    "tracing.zipkin.flush_interval_ms": str(TRACER_FLUSH_MS),
    "tracing.opentelemetry.flush_interval_ms": str(TRACER_FLUSH_MS),
}
GLOBAL_MAX_CONNECTIONS = 2147483647
_CONNECTIONS_MONITOR = {
    "name": "envoy.resource_monitors.global_downstream_max_connections",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
        "downstream_connections.v3.DownstreamConnectionsConfig",
        "max_active_downstream_connections": GLOBAL_MAX_CONNECTIONS,
    },
}
STATS_BUFFER_LIMIT = 256 * 1024 * 1024  # a stats page of many clusters and label sets
# Istio's Envoy log line (its bootstrap's `application_log_config`): what `logs -c istio-proxy`
# shows, e.g. `<time>\tdebug\tenvoy rbac <file>:<line>\tshadow denied, …\tthread=…`.
ISTIO_LOG_FORMAT = "%Y-%m-%dT%T.%fZ\t%l\tenvoy %n %g:%#\t%v\tthread=%t"
# Istio's bootstrap `stats_tags` (Envoy's default tags off): the tags 15090 prints, such as
# `envoy_cluster_upstream_rq{response_code="200",cluster_name="xds-grpc"}` and the dry-run
# task's `envoy_http_inbound_0_0_0_0_80_rbac{authz_dry_run_action="deny",…}`.
ISTIO_STATS_TAGS = (
    ("cluster_name", r"^cluster(\.(.+);)"),
    (
        "http_conn_manager_prefix",
        r"^http\.(((?:[_.[:digit:]\w]*|[_\[\]aAbBcCdDeEfF[:digit:]\w\:]*));\.)",
    ),
    ("thread_name", r"^server(\.(.+))\.watchdog"),
    ("tcp_prefix", r"^tcp\.((.*?)\.)\w+?$"),
    ("response_code", r"_rq(_(\d{3}))$"),
    ("response_code_class", r"_rq(_(\dxx))$"),
    (
        "http_conn_manager_listener_prefix",
        r"^listener(?=\.).*?\.http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)",
    ),
    ("listener_address", r"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"),
    ("mongo_prefix", r"^mongo\.(.+?)\.(collection|cmd|cx_|op_|delays_|decoding_)(.*?)$"),
    ("cache", r"(cache\.(.+?)\.)"),
    ("component", r"(component\.(.+?)\.)"),
    ("tag", r"(tag\.(.+?);\.)"),
    ("wasm_filter", r"(wasm_filter\.(.+?)\.)"),
    ("authz_enforce_result", r"rbac(\.(allowed|denied))"),
    ("authz_dry_run_action", r"(\.istio_dry_run_(allow|deny)_)"),
    ("authz_dry_run_result", r"(\.shadow_(allowed|denied))"),
)


@dataclass(frozen=True)
class XdsTls:
    """ADS over TLS to the control plane (a host outside the mesh, Istio's 15012): the mesh
    root that verifies it, the name its certificate carries, and the agent's bearer token."""

    root_cert: str  # path of the PEM file
    server_name: str
    token: str


@dataclass(frozen=True)
class BootstrapSettings:
    proxy: Proxy
    xds_host: str
    xds_port: int
    delta: bool = False
    sds_socket: str = ""  # the agent's SDS unix socket ("" = no workload identity)
    extra_metadata: tuple[tuple[str, Any], ...] = ()  # the agent's ISTIO_META_* (ours win)
    xds_tls: XdsTls | None = None  # None: plaintext xDS (15010, loopback)
    stats_lists: InclusionLists | None = None  # the stats Envoy keeps (`config.proxy_stats`);
    # None: Istio's lists alone
    source_address: str = ""  # where upstream connections leave from ("": the kernel's choice)
    dns_resolvers: tuple[tuple[str, int], ...] = ()  # DNS servers ((): the system's resolv.conf)
    admin_address: str = ""  # where its Envoy admin listens ("": `admin_host`)
    zipkin_cluster: bool = False  # Istio's `zipkin` cluster, which bootstrap overrides name


ZIPKIN_CLUSTER, ZIPKIN_PORT = "zipkin", 9411
_CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


def admin_host(proxy: Proxy) -> str:
    """Where the proxy's Envoy admin listens: a captured pod's is Istio's localhost:15000 (its
    pod address is captured), others' their own address."""
    return "127.0.0.1" if proxy.captured else proxy.ip


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _static_cluster(
    name: str, host: str, port: int, http2: bool = False, address: dict[str, Any] | None = None
) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "alt_stat_name": alt_stat_name(name),
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": address or _address(host, port)}}]}
            ],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _H2,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def _admin_proxy_listener(
    name: str, ip: str, port: int, match: str, rewrite: str, lua: str = ""
) -> dict[str, Any]:
    """A listener that exposes one admin path on a public port, as Istio's 15090 and 15021."""
    route = {
        "match": {"prefix": match},
        "route": {"cluster": ADMIN_SELF_CLUSTER, "prefix_rewrite": rewrite},
    }
    filters: list[dict[str, Any]] = [
        {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}
    ]
    if lua:
        source = {"@type": _LUA, "default_source_code": {"inline_string": lua}}
        filters.insert(0, {"name": "envoy.filters.http.lua", "typed_config": source})
    hcm = {
        "@type": _HCM,
        "stat_prefix": name,
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": filters,
    }
    listener: dict[str, Any] = {
        "name": name,
        "address": _address(ip, port),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    if lua:  # the Lua filter holds the whole stats page: past Envoy's 1 MiB default, it fails
        listener["per_connection_buffer_limit_bytes"] = STATS_BUFFER_LIMIT
    return listener


def _locality(locality: str) -> dict[str, Any]:
    """The node's `locality` (Istio's bootstrap sets it): where the proxy is, for Envoy's own
    view (`/clusters`, zone stats); the control plane reads it from the proxy's labels."""
    if not locality:
        return {}
    region, zone, subzone = split(locality)
    return {"locality": {"region": region, "zone": zone, "sub_zone": subzone}}


def build_bootstrap(settings: BootstrapSettings) -> bootstrap_pb2.Bootstrap:
    proxy = settings.proxy
    source = {"ads": {}, "resource_api_version": "V3"}
    admin_ip = settings.admin_address or admin_host(proxy)
    data: dict[str, Any] = {
        "application_log_config": {"log_format": {"text_format": ISTIO_LOG_FORMAT}},
        "node": {
            "id": proxy.id,
            # Istio's service cluster `<canonical service>.<namespace>`: the service name of
            # this proxy's spans
            "cluster": f"{identity_of(proxy).canonical_service}.{proxy.namespace}",
            "metadata": dict(settings.extra_metadata)
            | node_metadata(proxy)
            | ({DELTA_XDS_KEY: "true"} if settings.delta else {}),
        }
        | _locality(proxy.locality),
        "stats_config": {
            "use_all_default_tags": False,
            "stats_tags": [{"tag_name": n, "regex": r} for n, r in ISTIO_STATS_TAGS],
            "stats_matcher": stats_matcher(_stats_lists(settings)),
        },
        "admin": {"address": _address(admin_ip, ADMIN_PORT)},
        "layered_runtime": {
            "layers": [
                {"name": "global config", "static_layer": RUNTIME_FLAGS},
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "overload_manager": {"resource_monitors": [_CONNECTIONS_MONITOR]},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if settings.delta else "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [
                    {"envoy_grpc": {"cluster_name": "xds-grpc", "retry_policy": XDS_RETRY}}
                ],
                "set_node_on_first_message_only": True,
            },
            "lds_config": source,
            "cds_config": source,
        },
        "static_resources": {
            "clusters": [
                _static_cluster("xds-grpc", settings.xds_host, settings.xds_port, http2=True),
                _static_cluster(ADMIN_SELF_CLUSTER, admin_ip, ADMIN_PORT),
                _static_cluster(STATS_SELF_CLUSTER, proxy.ip, STATS_PORT),
            ],
            "listeners": [
                _admin_proxy_listener(
                    "stats_prometheus",
                    proxy.ip,
                    STATS_PORT,
                    "/stats/prometheus",
                    "/stats/prometheus",
                    lua=_stats_request_lua(settings) + expand_lua(),
                ),
                _admin_proxy_listener(
                    "health_ready", proxy.ip, HEALTH_PORT, "/healthz/ready", "/ready"
                ),
            ],
        },
    }
    if settings.source_address:  # a pod sharing the host's network: its connections leave
        # from its own address, as a pod's do (else 127.0.0.1, for every pod alike)
        bind: dict[str, Any] = {"address": settings.source_address, "port_value": 0}
        data["cluster_manager"] = {"upstream_bind_config": {"source_address": bind}}
    if settings.dns_resolvers:  # every DNS lookup of this Envoy (clusters, forward proxy)
        data["typed_dns_resolver_config"] = {
            "name": "envoy.network.dns_resolver.cares",
            "typed_config": {
                "@type": _CARES,
                "resolvers": [_address(host, port) for host, port in settings.dns_resolvers],
            },
        }
    if settings.sds_socket:  # as Istio's `sds-grpc`: the agent serves `default` and `ROOTCA`
        data["static_resources"]["clusters"].append(
            _static_cluster(
                SDS_CLUSTER, "", 0, http2=True, address={"pipe": {"path": settings.sds_socket}}
            )
        )
    if settings.zipkin_cluster:  # Istio's bootstrap has it (ProxyConfig.tracing.zipkin, by
        # default zipkin.istio-system:9411): Istio's custom-bootstrap sample's tracer names it.
        # Here that address is the mesh's own collector, on the control plane's address
        zipkin = _static_cluster(ZIPKIN_CLUSTER, settings.xds_host, ZIPKIN_PORT)
        data["static_resources"]["clusters"].append(zipkin)
    if settings.xds_tls is not None:
        _secure_xds(data, settings.xds_tls)
    return json_format.ParseDict(data, bootstrap_pb2.Bootstrap())


def _stats_lists(settings: BootstrapSettings) -> InclusionLists:
    return settings.stats_lists or inclusion_lists(NOT_SET, (settings.proxy.ip,))


def _stats_request_lua(settings: BootstrapSettings) -> str:
    """15090 asks the admin for the stats Istio's inclusion lists keep (`config.proxy_stats`),
    the request's own query parameters after that filter."""
    wanted = admin_filter(_stats_lists(settings))
    page = "/stats/prometheus?filter=" + urllib.parse.quote(wanted, safe="")
    return (
        "function envoy_on_request(handle)\n"
        '  local path = handle:headers():get(":path") or ""\n'
        '  local query = path:match("%?(.*)$")\n'
        f"  local page = {json.dumps(page)}\n"
        '  if query ~= nil and query ~= "" then page = page .. "&" .. query end\n'
        '  handle:headers():replace(":path", page)\n'
        "end\n"
    )


def _secure_xds(data: dict[str, Any], tls: XdsTls) -> None:
    """The token on the ADS stream, TLS on its cluster (the server's DNS SAN checked)."""
    service = data["dynamic_resources"]["ads_config"]["grpc_services"][0]
    service["initial_metadata"] = [{"key": "authorization", "value": f"Bearer {tls.token}"}]
    cluster = data["static_resources"]["clusters"][0]
    cluster["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _UPSTREAM_TLS,
            "sni": tls.server_name,
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "validation_context": {
                    "trusted_ca": {"filename": tls.root_cert},
                    "match_typed_subject_alt_names": [
                        {"san_type": "DNS", "matcher": {"exact": tls.server_name}}
                    ],
                },
            },
        },
    }


def bootstrap_json(settings: BootstrapSettings) -> str:
    text: str = json_format.MessageToJson(
        build_bootstrap(settings), preserving_proto_field_name=True
    )
    return text
