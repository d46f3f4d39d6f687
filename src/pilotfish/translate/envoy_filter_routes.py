"""EnvoyFilter patches of route configurations: ROUTE_CONFIGURATION, VIRTUAL_HOST and HTTP_ROUTE,
as Istio's envoyfilter rc_patch applies them to one route configuration of one patch context:
the configuration's MERGEs, then per virtual host its REMOVE/MERGE/REPLACE and its routes'
REMOVE/MERGE followed by the route inserts (an insert whose match names no route goes first,
INSERT_AFTER and ADD last), then the virtual hosts patches ADD. A sidecar's configuration is
matched by the port in its name (`inbound|9080||`, a captured pod's `9080`); the one
`http_proxy` configuration of a sidecar in local mode serves every port, so there a
`portNumber` selects the virtual hosts of that port (`host:port`). A gateway's is matched by
port, port name and gateway as Istio parses its names (`names.gateway_route_config`,
`names.gateway_tls_route_config`). Called by `envoy_filters.patched`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2

from pilotfish.config.models.networking.envoy_filter import ROUTE_ACTIONS, enum_name
from pilotfish.translate import names
from pilotfish.translate.envoy_filters import (
    INSERTS,
    ConfigPatch,
    context_matches,
    copied,
    kept_after,
    merge,
)


def patched_route_config(
    context: str, patches: Mapping[str, list[ConfigPatch]], config: route_pb2.RouteConfiguration
) -> route_pb2.RouteConfiguration:
    """One route configuration after ROUTE_CONFIGURATION, VIRTUAL_HOST and HTTP_ROUTE patches
    (Istio's rc_patch); `config` itself when none matches it."""
    relevant = [
        p
        for kind in ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
        for p in patches.get(kind, [])
        if context_matches(p, context) and _route_config_matches(context, config, p)
    ]
    if not relevant:
        return config
    out: route_pb2.RouteConfiguration = copied(config)
    for patch in relevant:
        merging = patch.apply_to == "ROUTE_CONFIGURATION" and patch.operation == "MERGE"
        if merging and isinstance(patch.value, route_pb2.RouteConfiguration):
            merge(out, patch.value)
    vhosts: list[rc_pb2.VirtualHost] = []
    for vhost in out.virtual_hosts:
        matched = [
            p
            for p in relevant
            if p.apply_to == "VIRTUAL_HOST" and _vhost_matches(config.name, vhost, p)
        ]
        if kept_after(vhost, matched, replace=True):
            _patch_routes(config.name, relevant, vhost)
            vhosts.append(copied(vhost))
    for patch in relevant:
        adding = patch.apply_to == "VIRTUAL_HOST" and patch.operation == "ADD"
        if adding and isinstance(patch.value, rc_pb2.VirtualHost):
            vhosts.append(copied(patch.value))
    del out.virtual_hosts[:]
    out.virtual_hosts.extend(vhosts)
    return out


def _patch_routes(config: str, patches: list[ConfigPatch], vhost: rc_pb2.VirtualHost) -> None:
    mine = [p for p in patches if p.apply_to == "HTTP_ROUTE" and _vhost_matches(config, vhost, p)]
    routes: list[rc_pb2.Route] = []
    for route in vhost.routes:
        if kept_after(route, [p for p in mine if _route_matches(route, p)]):
            routes.append(copied(route))
    for patch in mine:
        if not isinstance(patch.value, rc_pb2.Route):
            continue
        specific = _has_route_match(patch)
        if patch.operation == "ADD" or (patch.operation == "INSERT_AFTER" and not specific):
            routes.append(copied(patch.value))
        elif patch.operation in ("INSERT_BEFORE", "INSERT_FIRST") and not specific:
            routes.insert(0, copied(patch.value))
        elif patch.operation in INSERTS:
            at = next((i for i, r in enumerate(routes) if _route_matches(r, patch)), None)
            if at is not None:
                where = {"INSERT_BEFORE": at, "INSERT_AFTER": at + 1}.get(patch.operation, 0)
                routes.insert(where, copied(patch.value))
    del vhost.routes[:]
    vhost.routes.extend(routes)


def _route_config_matches(
    context: str, config: route_pb2.RouteConfiguration, patch: ConfigPatch
) -> bool:
    match = patch.match.route_configuration
    if match is None:
        return True
    if match.name and match.name != config.name:
        return False
    if context != "GATEWAY":
        if match.port_number and config.name == names.HTTP_PROXY_ROUTE_CONFIG:
            # one configuration for every port: the port is matched per virtual host
            return patch.apply_to != "ROUTE_CONFIGURATION"
        parts = config.name.split("|")
        port = parts[1] if config.name.startswith("inbound|") and len(parts) > 1 else config.name
        return not match.port_number or str(match.port_number) == port
    number, port_name, gateway = _gateway_route_name(config.name)
    if match.port_number and match.port_number != number:
        return False
    if match.port_name and match.port_name != port_name:
        return False
    return not match.gateway or match.gateway == gateway


_GATEWAY_HTTPS = re.compile(r"https\.(\d+)\.([^.]*)\.(.+)")


def _gateway_route_name(name: str) -> tuple[int, str, str]:
    """(port, port name, gateway `namespace/name`) of a gateway's route configuration name:
    `http.8080`, or `https.443.<server>.<namespace>/<name>` (`names.gateway_tls_route_config`,
    whose server index stands where Istio's name has the port name)."""
    if name.startswith("http."):
        number = name.split(".")[1]
        return (int(number) if number.isdigit() else 0), "", ""
    found = _GATEWAY_HTTPS.fullmatch(name)
    if found is None:
        return 0, "", ""
    return int(found.group(1)), found.group(2), found.group(3)


def _vhost_matches(config: str, vhost: rc_pb2.VirtualHost, patch: ConfigPatch) -> bool:
    match = patch.match.route_configuration
    if match is None:
        return True
    port = match.port_number
    if port and config == names.HTTP_PROXY_ROUTE_CONFIG and not vhost.name.endswith(f":{port}"):
        return False
    return match.vhost is None or not match.vhost.name or match.vhost.name == vhost.name


def _has_route_match(patch: ConfigPatch) -> bool:
    match = patch.match.route_configuration
    return match is not None and match.vhost is not None and match.vhost.route is not None


def _route_matches(route: rc_pb2.Route, patch: ConfigPatch) -> bool:
    configuration = patch.match.route_configuration
    vhost = configuration.vhost if configuration else None
    match = vhost.route if vhost else None
    if match is None:
        return True
    if match.name and match.name != route.name:
        return False
    action = enum_name(match.action, ROUTE_ACTIONS)
    kind = {"route": "ROUTE", "redirect": "REDIRECT", "direct_response": "DIRECT_RESPONSE"}
    return action == "ANY" or kind.get(route.WhichOneof("action") or "") == action
