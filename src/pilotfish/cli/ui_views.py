"""The web UI's views by the names Istio users type: `pilotfish dashboard kiali|grafana|jaeger|
zipkin|mesh` each open the matching view of the control plane's built-in UI (`pilotfish.ui`).
When the control plane does not listen on loopback, the URL carries the UI's read-only token
(`pilotfish.ui.guard`: a browser elsewhere than this machine needs it)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pilotfish.state_files import UI_TOKEN_FILE, read_admin_token

UI_VIEWS = {
    "mesh": "#graph",
    "kiali": "#graph",
    "grafana": "#dashboards/mesh",
    "jaeger": "#traces",
    "zipkin": "#traces",
}


def ui_url(info: dict[str, Any], kind: str, state_dir: Path | None = None) -> str:
    base = f"{info['api']}/ui/"
    host = urlsplit(str(info["api"])).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    token = read_admin_token(state_dir, UI_TOKEN_FILE) if state_dir and not loopback else None
    return f"{base}?token={token}{UI_VIEWS[kind]}" if token else f"{base}{UI_VIEWS[kind]}"
