"""`pilotfish dashboard envoy PROXY` (istioctl's `dashboard envoy`): the address of one sidecar's
Envoy admin UI, opened in a browser unless `--browser=false`. In local mode every Envoy's admin
listens on its own loopback address, so there is nothing to port-forward: the URL works as is.
`pilotfish dashboard controlz` gives the control plane's debug endpoints the same way;
`kiali`, `grafana`, `jaeger`, `zipkin` and `mesh` open the built-in web UI's views (`ui_views`).
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

from pilotfish.cli.errors import running_mesh
from pilotfish.cli.exec_cmd import find_proxy
from pilotfish.cli.ui_views import UI_VIEWS, ui_url

CONTROLZ_PATHS = ("/debug/syncz", "/debug/registryz", "/debug/config_dump?proxyID=", "/metrics")


def dashboard_command(kind: str, name: str | None, browser: bool, state_dir: Path) -> int:
    info = running_mesh(state_dir)
    if kind == "envoy":
        if not name:
            print("error: say which proxy: pilotfish dashboard envoy PROXY", file=sys.stderr)
            return 1
        found = find_proxy(info, name)
        if found is None:
            print(f"error: no proxy {name!r} in this mesh", file=sys.stderr)
            return 1
        url = f"http://{found[1]['ip']}:15000/"
        print(url)
    elif kind in UI_VIEWS:
        url = ui_url(info, kind)
        print(url)
    elif kind == "controlz":
        url = f"{info['api']}/debug/syncz"
        for path in CONTROLZ_PATHS:
            print(f"{info['api']}{path}")
    else:
        print(
            f"error: unknown dashboard {kind!r}: envoy, controlz, {', '.join(UI_VIEWS)}",
            file=sys.stderr,
        )
        return 1
    if browser:
        webbrowser.open(url)
    return 0
