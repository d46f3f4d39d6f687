"""`pilotfish dashboard envoy PROXY` (istioctl's `dashboard envoy`): the address of one sidecar's
Envoy admin UI, opened in a browser unless `--browser=false`. In local mode every Envoy's admin
listens on its own loopback address, and an isolated pod's is forwarded to one by the launcher
(`pilotfish.local.admin_bridge`), so there is nothing to port-forward: the URL works as is.
`pilotfish dashboard controlz [istiod-0]` opens the control plane's ControlZ page (9876, its
logging scopes, process, memory, arguments, environment; `pilotfish.controlplane.controlz`): the
URL printed is the page's; the browser opened by the mesh owner is handed the owner's token with
it, so levels can be changed there (it is not printed: it stays out of terminals and pastes);
`kiali`, `grafana`, `jaeger`, `zipkin` and `mesh` open the built-in web UI's views (`ui_views`).
`pilotfish dashboard prometheus` starts the mesh's Prometheus (once; `pilotfish down` stops it),
scraping every sidecar and gateway as Istio's Prometheus addon does, and opens its UI.
`--address ADDR` / `-p PORT` put istioctl's port-forward in front of any of them
(`dashboard_forward`), running until interrupted as istioctl's does.
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import Any

from pilotfish.cli.admin_log import ISTIOD_PODS, controlz_address
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.ui_views import UI_VIEWS, ui_url
from pilotfish.local import prometheus
from pilotfish.local.client import call, owner_token
from pilotfish.registry.inputs import manifest_of


def _prometheus(info: dict[str, Any], state_dir: Path, scrape_interval: str) -> str | None:
    status, body = call(info["api"], "GET", "/api/v1/manifest")
    if status != 200:
        print(f"error: the control plane answered {status}", file=sys.stderr)
        return None
    manifest, _ = manifest_of(body["documents"])
    control_plane = info["api"].split("//", 1)[1].rsplit(":", 1)[0]
    try:
        return prometheus.start(
            state_dir, control_plane, info["proxies"], manifest, scrape_interval
        )
    except prometheus.PrometheusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def start_prometheus(info: dict[str, Any], state_dir: Path) -> str | None:
    """The mesh's Prometheus, started unless it runs (Istio's addon applied: `cli.addons`)."""
    return _prometheus(info, state_dir, "15s")


def dashboard_command(
    kind: str,
    name: str | None,
    browser: bool,
    state_dir: Path,
    scrape_interval: str = "15s",
    namespace: str | None = None,
    ctrlz_port: int | None = None,
    address: str | None = None,
    port: int | None = None,
) -> int:
    """Print the dashboard's URL and open it; with `address` or `port`, istioctl's forward in
    front of it (`dashboard_forward`), until interrupted."""
    info = running_mesh(state_dir)
    if address is not None or port is not None:
        shown = _url(info, kind, name, state_dir, scrape_interval, namespace, ctrlz_port)
        if shown is None:
            return 1
        from pilotfish.cli.dashboard_forward import forward

        return forward(shown[0], address or "localhost", port, browser)
    found = _url(info, kind, name, state_dir, scrape_interval, namespace, ctrlz_port)
    if found is None:
        return 1
    print(found[0])
    if browser:
        webbrowser.open(found[1])
    return 0


def _url(
    info: dict[str, Any],
    kind: str,
    name: str | None,
    state_dir: Path,
    scrape_interval: str,
    namespace: str | None,
    ctrlz_port: int | None,
) -> tuple[str, str] | None:
    """(the URL to print, the URL to open) of the dashboard; None after saying why not."""
    if kind == "envoy":
        if not name:
            print("error: say which proxy: pilotfish dashboard envoy PROXY", file=sys.stderr)
            return None
        try:
            found = resolve_pod(info, name, namespace)
        except PodNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return None
        url = f"http://{admin_address(found[1])}/"
        return url, url
    if kind in UI_VIEWS:
        url = ui_url(info, kind, state_dir)
        return url, url
    if kind == "controlz":
        if name is not None and name.split(".")[0] not in ISTIOD_PODS:
            print(
                f'error: pods "{name}" not found (the control plane is istiod-0)', file=sys.stderr
            )
            return None
        shown = f"{controlz_address(info, ctrlz_port)}/"
        token = owner_token(state_dir)
        return shown, f"{shown}?token={token}" if token else shown
    if kind == "prometheus":
        found_url = _prometheus(info, state_dir, scrape_interval)
        return None if found_url is None else (found_url, found_url)
    print(
        f"error: unknown dashboard {kind!r}: envoy, controlz, prometheus, {', '.join(UI_VIEWS)}",
        file=sys.stderr,
    )
    return None
