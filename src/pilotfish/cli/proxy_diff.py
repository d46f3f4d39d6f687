"""`pilotfish proxy-status POD`: istioctl's diff between the config the control plane would send
one proxy and the config its Envoy has loaded, per type (clusters, listeners, routes).

As istioctl: each side is the type's dynamic resources sorted by name (a route configuration's
virtual hosts by name too), without versions or load times, as indented protojson (keys sorted:
a Struct's come in any order); a unified
diff (7 lines of context) `--- Istiod Clusters` / `+++ Envoy Clusters` follows `Clusters Don't
Match`, else `Clusters Match`; the routes line names when Envoy last loaded RDS (`Routes Match
(RDS last loaded at Tue, 04 Aug 2020 11:52:54 UTC)`).

Both sides pass through the same protobuf messages (fields this build's protos do not know are
left out of both), so only a difference Envoy would act on shows. What Envoy fetches on demand
is compared as far as it asked for it: an outbound service cluster of a delta stream
(on-demand CDS) counts when Envoy holds it or subscribed to it by name, and the virtual hosts of
a route configuration served by VHDS (`http_proxy` in local mode) when Envoy holds them (their
`ROUTE/` prefix and the `vhds` source are how they travel, not a difference).
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Any

from google.protobuf import json_format, symbol_database

from pilotfish.xds.resources import CLUSTER, LISTENER, ROUTE

# label, type URL, config dump section, its list of dynamic entries, the resource in an entry
KINDS = (
    ("Clusters", CLUSTER, "ClustersConfigDump", "dynamic_active_clusters", "cluster"),
    ("Listeners", LISTENER, "ListenersConfigDump", "dynamic_listeners", "listener"),
    ("Routes", ROUTE, "RoutesConfigDump", "dynamic_route_configs", "route_config"),
)


def _section(dump: dict[str, Any], name: str) -> dict[str, Any]:
    for config in dump.get("configs", []):
        if str(config.get("@type", "")).endswith("." + name):
            return dict(config)
    return {}


def envoy_resources(dump: dict[str, Any], section: str, key: str, field: str) -> list[Any]:
    """The dynamic resources of one section of Envoy's /config_dump (active listeners)."""
    found = []
    for entry in _section(dump, section).get(key, []):
        resource = entry.get(field) or entry.get("active_state", {}).get(field)
        if resource:
            found.append(resource)
    return found


def canonical(type_url: str, resource: dict[str, Any]) -> Any:
    """One resource as protojson through this build's message for `type_url`, so both sides
    print the same fields the same way; as it came when the message cannot hold it."""
    import pilotfish.translate.generate  # noqa: F401  (registers every message the mesh sends)

    plain = {k: v for k, v in resource.items() if k != "@type"}
    try:
        message = symbol_database.Default().GetSymbol(type_url.rsplit("/", 1)[-1])()
        json_format.ParseDict(plain, message, ignore_unknown_fields=True)
        return json_format.MessageToDict(message)
    except (KeyError, TypeError, json_format.ParseError):
        return plain


def _on_demand_cluster(name: str) -> bool:
    return name.startswith("outbound|")


def compared(
    type_url: str,
    istiod: list[dict[str, Any]],
    envoy: list[dict[str, Any]],
    subscribed: list[str],
    delta: bool,
) -> tuple[list[Any], list[Any]]:
    """Both sides of one type, sorted by name, restricted to what Envoy asked for (above)."""
    held = {str(r.get("name", "")) for r in envoy}
    if type_url == CLUSTER and delta:
        istiod = [
            r
            for r in istiod
            if not _on_demand_cluster(str(r.get("name", "")))
            or r.get("name") in held
            or r.get("name") in subscribed
        ]
    if type_url == ROUTE:
        envoy, istiod = _vhds_routes(envoy, istiod)
    sides = []
    for resources in (istiod, envoy):
        items = [canonical(type_url, r) for r in resources]
        if type_url == ROUTE:
            for item in items:
                item.get("virtualHosts", []).sort(key=lambda v: str(v.get("name", "")))
        sides.append(sorted(items, key=lambda r: str(r.get("name", ""))))
    return sides[0], sides[1]


def _vhds_routes(
    envoy: list[dict[str, Any]], istiod: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A VHDS route configuration's virtual hosts as the control plane names them, and the
    control plane's side of it with the virtual hosts Envoy holds."""
    by_name = {str(r.get("name", "")): r for r in istiod}
    envoy_out, istiod_out = [], list(istiod)
    for route in envoy:
        name = str(route.get("name", ""))
        if "vhds" not in route:
            envoy_out.append(route)
            continue
        hosts = [
            dict(v, name=str(v.get("name", "")).removeprefix(name + "/"))
            for v in route.get("virtual_hosts", [])
        ]
        envoy_out.append({k: v for k, v in route.items() if k != "vhds"} | {"virtual_hosts": hosts})
        if name in by_name:
            held = {v["name"] for v in hosts}
            mine = by_name[name]
            kept = [v for v in mine.get("virtual_hosts", []) if v.get("name") in held]
            istiod_out[istiod_out.index(mine)] = dict(mine, virtual_hosts=kept)
    return envoy_out, istiod_out


def _lines(resources: list[Any]) -> list[str]:
    text = json.dumps(resources, indent=4, sort_keys=True)  # a Struct's keys come in any order
    return text.splitlines(keepends=True) if resources else []


def last_route_load(dump: dict[str, Any]) -> str:
    """` (RDS last loaded at …)`: the newest `last_updated` of Envoy's dynamic route configs, in
    RFC 1123 form and this machine's time zone, as istioctl prints it; empty when none."""
    times = [
        datetime.fromisoformat(str(entry["last_updated"]).replace("Z", "+00:00"))
        for entry in _section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])
        if entry.get("last_updated")
    ]
    if not times:
        return ""
    newest = max(times).astimezone()
    return f" (RDS last loaded at {newest.strftime('%a, %d %b %Y %H:%M:%S %Z')})"


def diff_report(
    istiod: dict[str, list[dict[str, Any]]],
    envoy_dump: dict[str, Any],
    subscriptions: dict[str, list[str]],
    delta: bool,
) -> tuple[str, bool]:
    """istioctl's report for one proxy, and whether every type matched. `istiod` is the control
    plane's resources per type URL, `subscriptions` Envoy's subscribed names per type URL."""
    out: list[str] = []
    matched = True
    for label, type_url, section, key, field in KINDS:
        mine, theirs = compared(
            type_url,
            istiod.get(type_url, []),
            envoy_resources(envoy_dump, section, key, field),
            subscriptions.get(type_url, []),
            delta,
        )
        text = "".join(
            difflib.unified_diff(
                _lines(mine), _lines(theirs), f"Istiod {label}", f"Envoy {label}", n=7
            )
        )
        suffix = last_route_load(envoy_dump) if type_url == ROUTE else ""
        if text:
            matched = False
            out.append(f"{label} Don't Match{suffix}\n{text}\n")
        else:
            out.append(f"{label} Match{suffix}\n")
    return "".join(out), matched
