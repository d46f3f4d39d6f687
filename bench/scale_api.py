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
    """`body`: JSON-encoded here, or bytes encoded already (`instances_body`)."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
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


def apply_file(base: str, name: str, text: str, timeout: float) -> Any:
    """POST one file to /api/v1/apply and wait for its convergence (as `pilotfish apply`)."""
    body = {"files": [[name, text]], "wait": True, "timeout": timeout}
    return call(base, "POST", "/api/v1/apply", body)


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def instances_body(rows: list[dict[str, Any]]) -> bytes:
    """The instance list as `put_instances` sends it, encoded ahead of a timed change: the
    control plane counts convergence from the request's arrival, and encoding 2,000 rows
    before it would otherwise count in the bench's time only (~10 ms)."""
    return json.dumps({"instances": rows}).encode()


def put_instances(base: str, rows: list[dict[str, Any]] | bytes) -> dict[str, Any]:
    """PUT the instance list (rows, or `instances_body` of them), then wait until the control
    plane has pushed it (debounced)."""
    body = rows if isinstance(rows, bytes) else instances_body(rows)
    answer = call(base, "PUT", "/api/v1/instances", body)
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


def xds_sent(base: str) -> dict[str, tuple[float, float]]:
    """type (cds, eds, lds, rds, vhds...) -> (pilot_xds_pushes, pilot_xds_config_size_bytes'
    sum): the responses the control plane counts as sent, and their bytes."""
    sent: dict[str, list[float]] = {}
    for line in str(call(base, "GET", "/metrics")).splitlines():
        for name, slot in (("pilot_xds_pushes{", 0), ("pilot_xds_config_size_bytes_sum{", 1)):
            if line.startswith(name):
                kind = line.split('type="', 1)[1].split('"', 1)[0]
                sent.setdefault(kind, [0.0, 0.0])[slot] = float(line.split()[-1])
    return {kind: (pair[0], pair[1]) for kind, pair in sent.items()}


def sent_check(
    before: dict[str, tuple[float, float]],
    after: dict[str, tuple[float, float]],
    received: list[tuple[int, str, int, float]],
    envoys: int,
) -> str:
    """A line comparing what the control plane's metrics count as sent since `before` with
    what the simulated proxies received (`received`): per type, responses and bytes. The real
    Envoys' responses are counted by the metrics only, so the metrics may exceed the clients'
    by a few responses per Envoy; they must never count fewer."""
    got: dict[str, list[float]] = {}
    for _, kind, size, _ in received:
        pair = got.setdefault(kind, [0, 0])
        pair[0] += 1
        pair[1] += size
    parts, agree = [], True
    for kind in sorted(set(after) | set(got)):
        count = after.get(kind, (0.0, 0.0))[0] - before.get(kind, (0.0, 0.0))[0]
        sent = after.get(kind, (0.0, 0.0))[1] - before.get(kind, (0.0, 0.0))[1]
        mine = got.get(kind, [0, 0])
        if count == 0 and mine[0] == 0:
            continue
        agree = agree and mine[0] <= count <= mine[0] + 4 * envoys and mine[1] <= sent
        parts.append(f"{kind} {count:.0f}/{mine[0]:.0f} ({sent / 1e6:.2f}/{mine[1] / 1e6:.2f} MB)")
    verdict = "agree" if agree else "DISAGREE"
    return f"  pilot_xds_pushes / received by the clients: {', '.join(parts) or 'none'}: {verdict}"


def convergence_check(metric_mean_ms: float, mean_ms: float) -> str:
    """pilot_proxy_convergence_time's mean over a change against the bench's own mean (each
    pushed proxy's last response received, from before the bench's API call). The metric
    counts, as istiod's does, from the request's arrival to the moment the node's last response
    of the change was handed to gRPC; the clients' time also holds the request's way to the
    control plane (its body is encoded beforehand: `instances_body`) and their own delay in
    reading what was sent (two processes reading 2,000 streams: tens of ms in a mesh-wide
    push). So the metric may be below the clients' by up to 15 % (20 ms at least), never
    above them by more than noise (5 %, 10 ms at least)."""
    gap = metric_mean_ms - mean_ms
    agree = -max(20.0, 0.15 * mean_ms) <= gap <= max(10.0, 0.05 * mean_ms)
    return (
        f"  pilot_proxy_convergence_time mean {metric_mean_ms:.0f} ms, the clients' mean "
        f"{mean_ms:.0f} ms: {'agree' if agree else 'DISAGREE'}"
    )


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
