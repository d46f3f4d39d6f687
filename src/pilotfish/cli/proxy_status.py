"""`pilotfish proxy-status [PROXY]`: each proxy's xDS sync state, as `istioctl proxy-status`
(Istio 1.27 and later; this is 1.30's, `istioctl/pkg/writer/pilot/status.go`).

The table is istioctl's: `NAME CLUSTER ISTIOD VERSION SUBSCRIBED TYPES`, padded as its tabwriter
pads (padding 5, blanks), one row per proxy sorted by proxy ID (`details-v1-0.default`), the
count and short names of the xDS types it subscribed to (`4 (CDS,LDS,EDS,RDS)`: CDS LDS EDS RDS
first, any other type after them by type URL). `-v 1` (`--verbosity`) is istioctl's full table:
a column per type seen or known (CDS ECDS EDS LDS RDS, by type URL), each `SYNCED (5m2s)`
(ACKed, with the age of the last send), `STALE` (sent, not yet ACKed), `ERROR` (Envoy refused
the latest: NACK), `NOT SENT`, or `IGNORED` (not subscribed). `-o json|yaml` is the control
plane's syncz answer as istioctl prints it (`cli.proxy_status_json`). CLUSTER is Istio's default
cluster ID, ISTIOD the control plane's pod (`istiod-0`, as `get pods -n istio-system` lists it),
VERSION the proxy's Istio version. Local mode's VHDS (on-demand virtual hosts) counts as RDS,
where Istio sends every route change.

With PROXY (`details-v1-0.default`, an instance or a workload), istioctl's diff between what the
control plane would send it and what its Envoy loaded (`pilotfish.cli.proxy_diff`).

`-i/--istioNamespace` and `--revision` choose the control plane as istioctl does: the local
mesh's runs in `istio-system`, revision `default`; another finds no istiod, as istioctl says.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish import __version__
from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.kube_views import age
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.proxy_diff import diff_report
from pilotfish.telemetry.exchange import DEFAULT_CLUSTER_ID
from pilotfish.xds.messages import type_state
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, VIRTUAL_HOST

ECDS = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
SHORT = {
    CLUSTER: "CDS",
    LISTENER: "LDS",
    ROUTE: "RDS",
    ENDPOINT: "EDS",
    SECRET: "SDS",
    ECDS: "ECDS",
}
"""Istio's `model.GetShortType` (any other type is named by its URL)."""
CORE_ORDER = (CLUSTER, LISTENER, ENDPOINT, ROUTE)
"""istioctl's order of the core types in SUBSCRIBED TYPES (the others follow by type URL)."""
KNOWN = (CLUSTER, LISTENER, ENDPOINT, ROUTE, ECDS)
"""The types `-v 1` always has a column for (istioctl's getAllKnownXdsTypes)."""
COLUMNS = (("CDS", CLUSTER), ("LDS", LISTENER), ("EDS", ENDPOINT), ("RDS", ROUTE), ("ECDS", ECDS))
"""The types `describe` reports a proxy's sync state of."""
ISTIOD = "istiod-0"
ISTIO_NAMESPACE = "istio-system"
REVISIONS = ("", "default")
WORST = ("NACKED", "STALE", "SYNCED", "NOT SENT")
"""How two states of one type combine: RDS counts the virtual hosts sent by VHDS too (local
mode's on-demand routes), since Istio's RDS is where a route change reaches Envoy."""
ISTIO_STATE = {"NACKED": "ERROR"}
"""pilotfish's state names as istioctl prints Istio's ConfigStatus (ERROR: the last NACKed)."""
PADDING = 5  # istioctl's tabwriter: minwidth 0, padding 5, blanks
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "".join(c.ljust(w + PADDING) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def proxy_status_command(
    name: str | None,
    state_dir: Path,
    namespace: str | None = None,
    output: str = "table",
    verbosity: int = 0,
    control_plane: tuple[str, str] = (ISTIO_NAMESPACE, ""),
) -> int:
    """`control_plane`: istioctl's `-i/--istioNamespace` and `--revision`."""
    if output not in ("table", "json", "yaml"):
        print(f'Error: output format "{output}" not supported', file=sys.stderr)
        return 1
    istio_namespace, revision = control_plane
    info = running_mesh(state_dir)
    if istio_namespace != ISTIO_NAMESPACE or revision not in REVISIONS:
        print(f'Error: no running Istio pods in "{istio_namespace}"', file=sys.stderr)
        return 1
    _status, body = mesh_call(info, "GET", "/debug/syncz")
    try:
        found = resolve_pod(info, name, namespace) if name else None
    except PodNotFound as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if found is not None:
        return _diff(info, body, found[0], found[1])
    proxies = [
        p
        for p in sorted(body.get("proxies", []), key=lambda p: proxy_id(p))
        if namespace in (None, proxy_id(p).rsplit(".", 1)[-1])
    ]
    if output != "table":
        from pilotfish.cli.proxy_status_json import syncz_response

        print(syncz_response(proxies, ISTIOD, output, str(body.get("push_version", ""))), end="")
        return 0
    print(verbose_table(proxies, time.time()) if verbosity > 0 else subscribed_table(proxies))
    return 0


def proxy_id(row: dict[str, Any]) -> str:
    """Istio's proxy ID, `NAME.NAMESPACE` (the third part of the node ID)."""
    return str(row["node_id"]).split("~")[2]


def type_states(row: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """Each type a proxy subscribed to (VHDS counted as RDS): its state (SYNCED, STALE, NACKED,
    NOT SENT) and when it was last sent."""
    types = {t["type_url"]: t for t in row["types"]}
    latest = row.get("latest") or {}
    found: dict[str, tuple[str, float | None]] = {}
    for url in types:
        url = ROUTE if url == VIRTUAL_HOST else url
        if url not in found:
            sent = [types[u].get("last_send_time") for u in _merged(url) if u in types]
            found[url] = (
                column_state(types, latest, url),
                max((t for t in sent if t), default=None),
            )
    return found


def _merged(url: str) -> tuple[str, ...]:
    return (ROUTE, VIRTUAL_HOST) if url == ROUTE else (url,)


def column_state(types: dict[str, Any], latest: dict[str, Any], url: str) -> str:
    """One type's state from a syncz row's types and latest versions (RDS: with VHDS)."""
    urls = _merged(url)
    states = [type_state(types.get(u), latest.get(u)) for u in urls if u == url or u in types]
    return min(states, key=WORST.index)


def all_types(proxies: list[dict[str, Any]]) -> list[str]:
    """istioctl's order of the types seen: CDS LDS EDS RDS, then the others by type URL."""
    seen = {url for row in proxies for url in type_states(row)}
    return [t for t in CORE_ORDER if t in seen] + sorted(seen - set(CORE_ORDER))


def short(url: str) -> str:
    return SHORT.get(url, url)


def subscribed_table(proxies: list[dict[str, Any]]) -> str:
    """istioctl's default table: NAME CLUSTER ISTIOD VERSION SUBSCRIBED TYPES."""
    order = all_types(proxies)
    rows = [["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"]]
    for row in proxies:
        states = type_states(row)
        names = [short(t) for t in order if t in states]
        said = f"{len(names)} ({','.join(names)})" if names else "0"
        rows.append([proxy_id(row), DEFAULT_CLUSTER_ID, ISTIOD, __version__, said])
    return table(rows)


def verbose_table(proxies: list[dict[str, Any]], now: float) -> str:
    """istioctl's `-v 1` table: a column per type (seen or known), by type URL."""
    order = sorted({*all_types(proxies), *KNOWN})
    rows = [["NAME", "CLUSTER", *(short(t) for t in order), "ISTIOD", "VERSION"]]
    for row in proxies:
        states = type_states(row)
        cells = [_said(*states[t], now) if t in states else "IGNORED" for t in order]
        rows.append([proxy_id(row), DEFAULT_CLUSTER_ID, *cells, ISTIOD, __version__])
    return table(rows)


def _said(state: str, sent: float | None, now: float) -> str:
    """istioctl's formatStatus: the state, and the age of the last send but for NOT SENT."""
    if state == "NOT SENT":
        return state
    said = ISTIO_STATE.get(state, state)
    return f"{said} ({age(now - sent)})" if sent else said


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
        print(f"Error: could not contact sidecar: {admin}: {exc}", file=sys.stderr)
        return 1
    subscribed = {t["type_url"]: list(t.get("subscribed", [])) for t in row["types"]}
    report, _ = diff_report(dump["resources"], envoy, subscribed, bool(row.get("delta")))
    print(report, end="")
    return 0
