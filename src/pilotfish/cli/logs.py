"""`pilotfish logs POD [-c CONTAINER] [--tail N]`: a workload's logs, as `kubectl logs` shows them.

CONTAINER is the app (default; any name but the proxy's) or `istio-proxy` (its Envoy). POD is
named as for `exec` (`httpbin-v2-0`, `httpbin-v2`, `NAME.NAMESPACE`). Reads the files the agent
writes under the instance's run directory (`app.log`, `envoy.log`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pilotfish.cli.errors import running_mesh
from pilotfish.cli.exec_cmd import find_proxy

PROXY_CONTAINERS = ("istio-proxy", "envoy", "proxy")


def log_file(run_dir: Path, container: str | None) -> Path:
    """The file holding CONTAINER's output in an instance's run directory."""
    return run_dir / ("envoy.log" if container in PROXY_CONTAINERS else "app.log")


def last_lines(text: str, tail: int) -> str:
    """The last `tail` lines of `text` (all of it when `tail` < 0), as `kubectl logs --tail`."""
    if tail < 0:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail else ""


def logs_command(
    pod: str, container: str | None, tail: int, namespace: str | None, state_dir: Path
) -> int:
    info = running_mesh(state_dir)
    found = find_proxy(info, pod, namespace)
    if found is None:
        print(f'Error from server (NotFound): pods "{pod}" not found', file=sys.stderr)
        return 1
    instance, proxy = found
    if proxy.get("type") == "router" and container is None:
        container = "istio-proxy"  # a gateway is only its Envoy
    path = log_file(Path(proxy["run_dir"]), container)
    if not path.exists():
        what = "container" if container else "app"
        print(f"error: {instance} has no {what} {container or ''} log ({path})", file=sys.stderr)
        return 1
    sys.stdout.write(last_lines(path.read_text(errors="replace"), tail))
    return 0
