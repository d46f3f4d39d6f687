"""How long a routing change takes to reach every Envoy of Bookinfo: `pilotfish apply` of a
VirtualService, alternating two rules, N times. Reports the control plane's own measure (request
received → last affected proxy ACKed, printed as `converged: 6/6 proxies in N ms`) and the
wall time of the whole `pilotfish apply` command (Python start-up, validation, HTTP included).

    .venv/bin/python bench/apply_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time

from meshbench import BenchMesh, machine

RULES = (
    "samples/bookinfo/networking/virtual-service-reviews-v3.yaml",
    "samples/bookinfo/networking/virtual-service-reviews-v2-v3.yaml",
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    mesh = BenchMesh(ingress="127.254.9.9")
    converged, wall = [], []
    try:
        mesh.run("up", "samples/bookinfo", "--detach", "--ingress-address", mesh.ingress)
        mesh.run("apply", "-f", "samples/bookinfo/networking/destination-rule-all.yaml")
        for i in range(args.runs):
            started = time.monotonic()
            out = mesh.run("apply", "-f", RULES[i % 2]).stdout
            wall.append((time.monotonic() - started) * 1000)
            match = re.search(r"converged: (\d+)/(\d+) proxies in (\d+) ms", out)
            if match is None:
                raise RuntimeError(out)
            converged.append(float(match.group(3)))
    finally:
        mesh.down()
    print(f"machine: {machine()}")
    print(
        f"apply -> every affected Envoy ACKed ({args.runs} runs): median "
        f"{statistics.median(converged):.0f} ms "
        f"(min {min(converged):.0f}, max {max(converged):.0f}); "
        f"whole `pilotfish apply` command: median {statistics.median(wall):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
