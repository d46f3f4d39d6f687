"""bench/scale.py's side of the control plane's HTTP API: calls with the owner's token, the
instance list, the convergence metric, syncz, and a process's CPU and RSS from /proc."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


TOKEN: dict[str, str] = {}  # the mesh owner's token (state/admin-token), sent with writes


def call(base: str, method: str, path: str, body: Any = None, timeout: float = 600) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if "token" in TOKEN:
        request.add_header("Authorization", f"Bearer {TOKEN['token']}")
    try:
        with DIRECT.open(request, timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        text = error.read().decode()
    return json.loads(text) if text.startswith(("{", "[")) else text


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def put_instances(base: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """PUT the instance list, then wait until the control plane has pushed it (debounced)."""
    answer = call(base, "PUT", "/api/v1/instances", {"instances": rows})
    while call(base, "GET", "/ready").get("registry_applied", 0) < answer["generation"]:
        time.sleep(0.005)
    return dict(answer)


def convergence_metric(base: str) -> tuple[float, float]:
    """(sum, count) of pilot_proxy_convergence_time."""
    text = call(base, "GET", "/metrics")
    total = count = 0.0
    for line in str(text).splitlines():
        if line.startswith("pilot_proxy_convergence_time_sum"):
            total = float(line.split()[-1])
        elif line.startswith("pilot_proxy_convergence_time_count"):
            count = float(line.split()[-1])
    return total, count


async def synced_proxies(base: str, expected: int, timeout: float) -> tuple[int, int]:
    """(proxies whose ACKed versions are the newest of every type, proxies connected), from
    /debug/syncz, polled until all `expected` are synced or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        rows = call(base, "GET", "/debug/syncz")["proxies"]
        synced = 0
        for row in rows:
            acked = {t["type_url"]: t["acked_version"] for t in row["types"]}
            synced += all(acked.get(t) == v for t, v in row["latest"].items())
        if synced >= expected or time.monotonic() > deadline:
            return synced, len(rows)
        await asyncio.sleep(0.2)
