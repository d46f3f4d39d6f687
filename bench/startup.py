"""Time from `pilotfish up samples/bookinfo` (a new process, foreground) to the first 200 from
productpage through the ingress gateway. Issue goal: under 10 s on 2 cores.

    .venv/bin/python bench/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time

from meshbench import ROOT, BenchMesh, get_status, machine


def one_run() -> float:
    mesh = BenchMesh(ingress="127.254.8.8")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilotfish", "up", "samples/bookinfo",
         "--ingress-address", mesh.ingress],
        env=mesh.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while time.monotonic() - started < 60:
            if get_status(f"http://{mesh.ingress}:8080/productpage", timeout=1) == 200:
                return time.monotonic() - started
            if proc.poll() is not None:
                raise RuntimeError("pilotfish up exited")
            time.sleep(0.02)
        raise TimeoutError("no 200 within 60 s")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = [one_run() for _ in range(args.runs)]
    print(f"machine: {machine()}")
    print(
        "pilotfish up samples/bookinfo -> first 200 from /productpage: "
        + ", ".join(f"{t:.2f} s" for t in times)
        + f"  (median {statistics.median(times):.2f} s, goal < 10 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
