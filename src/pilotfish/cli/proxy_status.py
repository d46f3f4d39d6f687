"""`pilotfish proxy-status [PROXY]`: each proxy's xDS sync state, as `istioctl proxy-status`.

The table has istioctl's columns (NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION, padded as
its tabwriter pads them); per type: SYNCED (Envoy ACKed the latest config), STALE (sent, not yet
ACKed), NACKED (Envoy rejected the latest; the error is printed below the table), NOT SENT
(nothing to send: pilotfish serves no ECDS). RDS includes the virtual hosts local mode sends
by VHDS. CLUSTER is Istio's default cluster ID, ISTIOD the
control plane's pod (`istiod-0`, as `get pods -n istio-system` lists it), VERSION the proxy's.

With PROXY (`details-v1-0.default`, an instance or a workload), istioctl's diff between what the
control plane would send it and what its Envoy loaded (`pilotfish.cli.proxy_diff`).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish import __version__
from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.proxy_diff import diff_report
from pilotfish.telemetry.exchange import DEFAULT_CLUSTER_ID
from pilotfish.xds.messages import type_state
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, VIRTUAL_HOST

ECDS = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
COLUMNS = (("CDS", CLUSTER), ("LDS", LISTENER), ("EDS", ENDPOINT), ("RDS", ROUTE), ("ECDS", ECDS))
ISTIOD = "istiod-0"
WORST = ("NACKED", "STALE", "SYNCED", "NOT SENT")
"""How two states of one column combine: RDS counts the virtual hosts sent by VHDS too (local
mode's on-demand routes), since Istio's RDS is where a route change reaches Envoy."""
PADDING = 5  # istioctl's tabwriter: minwidth 0, padding 5, blanks
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "".join(c.ljust(w + PADDING) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def proxy_status_command(name: str | None, state_dir: Path, namespace: str | None = None) -> int:
    info = running_mesh(state_dir)
    _status, body = mesh_call(info, "GET", "/debug/syncz")
    try:
        found = resolve_pod(info, name, namespace) if name else None
    except PodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if found is not None:
        return _diff(info, body, found[0], found[1])
    rows = [["NAME", "CLUSTER", *(c for c, _ in COLUMNS), "ISTIOD", "VERSION"]]
    problems: list[str] = []
    for proxy in sorted(body.get("proxies", []), key=lambda p: p["node_id"].split("~")[2]):
        instance_ns = proxy["node_id"].split("~")[2]
        if namespace not in (None, instance_ns.rsplit(".", 1)[-1]):
            continue
        types = {t["type_url"]: t for t in proxy["types"]}
        states = [column_state(types, proxy["latest"], url) for _, url in COLUMNS]
        rows.append([instance_ns, DEFAULT_CLUSTER_ID, *states, ISTIOD, __version__])
        for t in proxy["types"]:
            if t.get("last_nack"):
                problems.append(
                    f"{instance_ns} {t['type_url'].rsplit('.', 1)[-1]} NACK: "
                    f"{t['last_nack']['error_message']}"
                )
        for error in proxy.get("generation_errors", []):
            problems.append(f"{instance_ns}: config not pushed: {error}")
    print(table(rows))
    for line in problems:
        print(line)
    return 0


def column_state(types: dict[str, Any], latest: dict[str, Any], url: str) -> str:
    """One column's state from a syncz row's types and latest versions (RDS: with VHDS)."""
    urls = (ROUTE, VIRTUAL_HOST) if url == ROUTE else (url,)
    states = [type_state(types.get(u), latest.get(u)) for u in urls if u == url or u in types]
    return min(states, key=WORST.index)


def _diff(info: dict[str, Any], body: dict[str, Any], pod: str, proxy: dict[str, Any]) -> int:
    """istioctl's `proxy-status POD`: Clusters, Listeners, Routes Match, or the diff."""
    row = next((p for p in body.get("proxies", []) if p["node_id"] == proxy.get("id")), None)
    if row is None:
        print(f"error: proxy {pod!r} is not connected", file=sys.stderr)
        return 1
    status, dump = mesh_call(info, "GET", f"/debug/config_dump?proxyID={row['node_id']}")
    if status != 200:
        print(f"error: the control plane has no config for {pod}: {dump}", file=sys.stderr)
        return 1
    admin = admin_address(proxy)
    try:
        with _DIRECT.open(f"http://{admin}/config_dump", timeout=10) as resp:
            envoy = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {pod}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
        return 1
    subscribed = {t["type_url"]: list(t.get("subscribed", [])) for t in row["types"]}
    report, _ = diff_report(dump["resources"], envoy, subscribed, bool(row.get("delta")))
    print(report, end="")
    return 0
