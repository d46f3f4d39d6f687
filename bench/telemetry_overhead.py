"""The cost of Istio's standard metrics in the data path: the same sidecars, the same traffic, with
the Telemetry API's metrics on and then off, alternating phases in one run (the machine's noise
hits both alike).

httpbin calls itself through its sidecar (outbound, reporter=source) into the same sidecar's
inbound listener (reporter=destination), so one Envoy does both halves of the sidecar pair.
"off" is a mesh-wide Telemetry disabling ALL_METRICS; the peer-metadata header exchange stays in
both (it is what the metrics need, and is a few header operations). Reported per phase kind:
p50/p99 at a constant rate, and the Envoy's CPU time per 1,000 requests (from /proc).

    .venv/bin/python bench/telemetry_overhead.py [--seconds 10] [--rate 50] [--concurrency 4]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from meshbench import BenchMesh, get_status, hey, machine

OFF = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - overrides: [{match: {metric: ALL_METRICS}, disabled: true}]
"""
ON = OFF.replace("disabled: true", "disabled: false")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=50, help="requests/s per connection")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    mesh = BenchMesh(ingress="127.254.8.8")
    rules = Path(tempfile.mkdtemp(prefix="pilotfish-telemetry-bench-"))
    (rules / "on.yaml").write_text(ON)
    (rules / "off.yaml").write_text(OFF)
    results: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    try:
        mesh.run("up", "samples/httpbin", "--detach", "--ingress-address", mesh.ingress)
        proxy = mesh.proxy("httpbin-v1")
        outbound = f"http://{proxy['ip']}:{proxy['outbound_port']}"
        url = "http://httpbin:8000/get"
        assert get_status(url, proxy=outbound) == 200
        pid = int(proxy["envoy_pid"])
        hey(url, 2, args.concurrency, args.rate, outbound)  # warm up
        for _ in range(args.rounds):
            for mode in ("on", "off"):
                mesh.run("apply", "-f", str(rules / f"{mode}.yaml"))
                before = cpu_seconds(pid)
                run = hey(url, args.seconds, args.concurrency, args.rate, outbound)
                run["cpu_ms_per_1k"] = (cpu_seconds(pid) - before) * 1000 / run["total"] * 1000
                results[mode].append(run)
    finally:
        mesh.down()
    print(f"machine: {machine()} (shared with other jobs: compare the ratio, not absolutes)")
    print(f"{args.rounds} rounds x {args.seconds} s per phase, {args.concurrency} connections x "
          f"{args.rate} req/s each (constant rate)")  # fmt: skip
    keys = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_1k")
    print(f"{'metrics':<8}" + "".join(f"{k:>15}" for k in keys) + f"{'non-200':>9}")
    medians = {}
    for mode, runs in results.items():
        medians[mode] = {k: statistics.median(r[k] for r in runs) for k in keys}
        errors = sum(r["non_200"] for r in runs)
        print(
            f"{mode:<8}" + "".join(f"{medians[mode][k]:>15.3f}" for k in keys) + f"{errors:>9.0f}"
        )
    ratio = "".join(f"{medians['on'][k] / medians['off'][k]:>15.3f}" for k in keys)
    print(f"{'on/off':<8}{ratio}   (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
