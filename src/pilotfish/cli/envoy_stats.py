"""`pilotfish x envoy-stats POD` (alias `es`): a pod's Envoy metrics, as `istioctl x
envoy-stats` prints them (Istio's "Telemetry API" metrics task checks its overrides with `istioctl
x es POD -oprom | grep istio_requests_total`).

`-o`: `short` (the default: the admin's `/stats`), `json`/`yaml` (`/stats?format=json`), `prom`
(the pod's Prometheus page: 15090 here, where Istio's metrics have Istio's names and labels, as
Istio's Envoy prints them on `/stats/prometheus`), `prom-merged` (15020, the page Prometheus
scrapes: Envoy's, the agent's and the app's own). `-t clusters`: the admin's `/clusters`
(`?format=json` for json/yaml). The pod by name, `NAME.NAMESPACE`, `-n`, or `-l key=value`
(each selected pod in turn). Envoy's own `/stats` holds Istio's metrics packed (README,
"Observability"): `prom` is the form to read them in.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import running_mesh
from pilotfish.cli.logs import selected_pods
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.selectors import Selector, parse_selector
from pilotfish.config.yaml_text import dump_yaml

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
OUTPUTS = ("short", "json", "yaml", "prom", "prom-merged")
ALLOWED = {"server": "json,yaml,short,prom,prom-merged", "clusters": "json,yaml,short"}


def _url(proxy: dict[str, Any], kind: str, output: str) -> str | None:
    admin = f"http://{admin_address(proxy)}"
    formatted = "?format=json" if output in ("json", "yaml") else ""
    if kind == "clusters":
        return None if output.startswith("prom") else f"{admin}/clusters{formatted}"
    if output == "prom":
        return f"http://{proxy['ip']}:15090/stats/prometheus"
    if output == "prom-merged":
        return f"http://{proxy['ip']}:15020/stats/prometheus"
    return f"{admin}/stats{formatted}"


def envoy_stats_command(
    pod: str | None,
    output: str,
    kind: str,
    namespace: str | None,
    selector: str | None,
    state_dir: Path,
) -> int:
    if kind not in ("server", "clusters"):
        print(f"Error: unknown stats type {kind!r}: one of server, clusters", file=sys.stderr)
        return 1
    allowed = OUTPUTS if kind == "server" else OUTPUTS[:3]
    if output not in allowed:
        print(
            f"Error: unable to match a printer suitable for the output format {output}, "
            f"allowed formats are: {ALLOWED[kind]}",
            file=sys.stderr,
        )
        return 1
    info = running_mesh(state_dir)
    if (pod is None) == (selector is None):
        print("Error: stats requires pod name or label selector", file=sys.stderr)
        return 1
    try:
        if selector is not None:
            pods = selected_pods(info, parse_selector(selector) or Selector(), namespace)
        else:
            pods = [resolve_pod(info, str(pod), namespace)]
    except PodNotFound as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for key, proxy in pods:
        url = _url(proxy, kind, output)
        if url is None or "ip" not in proxy:
            print(f"Error: {key} has no Envoy", file=sys.stderr)
            return 1
        try:
            with _DIRECT.open(url, timeout=10) as resp:
                text = resp.read().decode()
        except (OSError, urllib.error.URLError) as exc:
            print(f"Error: failed to execute command on Envoy of {key}: {exc}", file=sys.stderr)
            return 1
        if output == "yaml":
            text = dump_yaml([json.loads(text)])
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
