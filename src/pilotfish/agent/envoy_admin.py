"""Talking to a local Envoy from its agent: readiness on 15021, the admin API on 15000 (drain,
`/server_info`), an agent's app probes on 15020 (`http_ok`), and whether a process listens on
its ports (read from /proc).

Blocking calls (the agent runs them in a thread; `until_envoy_ready` does so itself); no proxy
variables are honoured: every address
is the instance's own loopback address (for a captured pod's admin, the pod's own 127.0.0.1:
`bootstrap.admin_host`).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pilotfish.agent.ports import ADMIN_PORT, HEALTH_PORT

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def listening(pid: int, ports: list[int]) -> bool:
    """Whether every port has a listening TCP socket in process `pid`'s network namespace."""
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return all(port in found for port in ports)


def http_ok(url: str, timeout: float) -> bool:
    """A GET of `url` (no proxy) answers 200: the agent's `/app-health/<container>/readyz`."""
    try:
        with _DIRECT.open(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def envoy_ready(ip: str) -> bool:
    """Istio's readiness probe: 15021 `/healthz/ready` (Envoy LIVE with its first config)."""
    try:
        with _DIRECT.open(f"http://{ip}:{HEALTH_PORT}/healthz/ready", timeout=0.5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


READY_POLL_SECONDS = 0.1


async def until_envoy_ready(ip: str, stopping: Callable[[], bool]) -> None:
    """Returns once `envoy_ready(ip)`, or once `stopping()` (Istio's `pilot-agent wait`, which
    holds an app's start: holdApplicationUntilProxyStarts)."""
    while not stopping() and not await asyncio.to_thread(envoy_ready, ip):
        await asyncio.sleep(READY_POLL_SECONDS)


def admin_get(ip: str, path: str) -> dict[str, object]:
    try:
        with _DIRECT.open(f"http://{ip}:{ADMIN_PORT}{path}", timeout=2) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def live_epoch(server_info: dict[str, object]) -> int | None:
    """The restart epoch of an Envoy whose `/server_info` says LIVE."""
    options = server_info.get("command_line_options")
    if server_info.get("state") != "LIVE" or not isinstance(options, dict):
        return None
    return int(options.get("restart_epoch", 0))


def admin_post(ip: str, path: str) -> bool:
    request = urllib.request.Request(f"http://{ip}:{ADMIN_PORT}{path}", method="POST")
    try:
        with _DIRECT.open(request, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
