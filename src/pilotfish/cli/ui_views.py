"""The web UI's views by the names Istio users type: `pilotfish dashboard kiali|grafana|jaeger|
zipkin|mesh` each open the matching view of the control plane's built-in UI (`pilotfish.ui`)."""

from __future__ import annotations

from typing import Any

UI_VIEWS = {
    "mesh": "#graph",
    "kiali": "#graph",
    "grafana": "#dashboards/mesh",
    "jaeger": "#traces",
    "zipkin": "#traces",
}


def ui_url(info: dict[str, Any], kind: str) -> str:
    return f"{info['api']}/ui/{UI_VIEWS[kind]}"
