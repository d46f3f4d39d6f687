"""`pilotfish proxy-status [PROXY]`: each proxy's xDS sync state, as `istioctl proxy-status`.

Per type: SYNCED (Envoy ACKed the latest config), STALE (sent, not yet ACKed), NACKED (Envoy
rejected the latest; the error is printed below the table), NOT SENT.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.pods import PodNotFound, resolve_pod
from pilotfish.xds.messages import type_state
from pilotfish.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET

COLUMNS = (("CDS", CLUSTER), ("LDS", LISTENER), ("EDS", ENDPOINT), ("RDS", ROUTE), ("SDS", SECRET))


def proxy_status_command(name: str | None, state_dir: Path, namespace: str | None = None) -> int:
    info = running_mesh(state_dir)
    _status, body = mesh_call(info, "GET", "/debug/syncz")
    try:
        wanted = resolve_pod(info, name, namespace)[0] if name else None
    except PodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [["NAME", "TYPE", "ADDRESS", *(c for c, _ in COLUMNS), "CONTROL PLANE"]]
    problems: list[str] = []
    found = False
    for proxy in sorted(body.get("proxies", []), key=lambda p: p["node_id"]):
        _, ip, instance_ns, _ = proxy["node_id"].split("~")
        if wanted not in (None, instance_ns):
            continue
        if namespace not in (None, instance_ns.rsplit(".", 1)[-1]):
            continue
        found = True
        types = {t["type_url"]: t for t in proxy["types"]}
        states = [type_state(types.get(url), proxy["latest"].get(url)) for _, url in COLUMNS]
        kind = proxy["node_id"].split("~")[0]
        rows.append([instance_ns, kind, ip, *states, info["xds"]])
        for t in proxy["types"]:
            if t.get("last_nack"):
                problems.append(
                    f"{instance_ns} {t['type_url'].rsplit('.', 1)[-1]} NACK: "
                    f"{t['last_nack']['error_message']}"
                )
        for error in proxy.get("generation_errors", []):
            problems.append(f"{instance_ns}: config not pushed: {error}")
    if name and not found:
        print(f"error: proxy {name!r} is not connected", file=sys.stderr)
        return 1
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for line in problems:
        print(line)
    return 0
