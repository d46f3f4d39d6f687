"""Data-plane cost, side by side in one run: a request straight to httpbin versus the same
request through the client's sidecar and httpbin's sidecar (the mesh path), with `hey`.

    .venv/bin/python bench/dataplane.py [--seconds 10] [--rate 100] [--concurrency 8]

Prints achieved requests/s and latency percentiles for both, at a constant rate (the `-q` rate
per worker) and flat out, and the mesh/direct ratios.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from meshbench import BenchMesh, hey, machine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--rate", type=int, default=100, help="requests/s per worker (constant rate)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    mesh = BenchMesh()
    try:
        mesh.run("up", "samples/httpbin", "--detach", "--ingress-address", mesh.ingress)
        mesh.run("apply", "-f", "samples/sleep/sleep.yaml")
        client = mesh.wait_proxy("sleep")
        server = mesh.proxy("httpbin-v1")
        app_port = next(iter(server["app_ports"].values()))
        direct_url = f"http://127.0.0.1:{app_port}/get"
        mesh_url = "http://httpbin:8000/get"
        proxy = f"http://{client['ip']}:{client['outbound_port']}"
        print(f"machine: {machine()}")
        rows = []
        for label, rate in (("constant rate", args.rate), ("flat out", None)):
            direct = hey(direct_url, args.seconds, args.concurrency, rate, None)
            meshed = hey(mesh_url, args.seconds, args.concurrency, rate, proxy)
            rows.append((label, direct, meshed))
        keys = ("rps", "p50_ms", "p90_ms", "p99_ms")
        print(f"{'run':<14} {'path':<7}" + "".join(f"{k:>9}" for k in keys) + f"{'non-200':>9}")
        for label, direct, meshed in rows:
            for path, r in (("direct", direct), ("mesh", meshed)):
                cells = "".join(f"{r[k]:>9.2f}" for k in keys)
                print(f"{label:<14} {path:<7}{cells}{r['non_200']:>9.0f}")
            ratios = "".join(f"{meshed[k] / direct[k]:>9.2f}" for k in keys)
            print(f"{label:<14} {'ratio':<7}{ratios}   (mesh / direct)")
    finally:
        mesh.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
