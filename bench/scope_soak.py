"""Soak of push scoping: random changes of every kind, each checked against translation from
scratch, for minutes (not a timed test; `tests/controlplane/test_incremental.py` is the short
variant in the suite).

    .venv/bin/python bench/scope_soak.py --duration 600 [--seed 1]

In-process (`scope_mesh.Mesh`: the scale benchmark's mesh, 60 services, 60 proxies): a change of
a random kind (VirtualService, DestinationRule, ServiceEntry, Sidecar, PeerAuthentication,
AuthorizationPolicy, Telemetry, EnvoyFilter, the manifest's mesh config, endpoints scaled or made
not ready, ...), then every connected proxy's pushed resources are compared with a from-scratch
translation (and an endpoint change must have been an EDS-only push of the moved clusters).
Prints per kind: changes, proxies translated again (median), apply time (median, worst), and
stops at the first difference (exit 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scope_mesh import KINDS, PROXIES, Mesh

NAMES = {
    0: "VirtualService weights",
    1: "VirtualService deleted",
    2: "DestinationRule changed",
    3: "DestinationRule deleted",
    4: "rule for another ns's host",
    5: "DestinationRule exportTo '.'",
    6: "root-namespace wildcard rule",
    7: "endpoints: scale a workload",
    8: "endpoints: a pod not ready",
    9: "manifest: retry defaults, outbound policy",
    10: "VirtualService sourceLabels",
    11: "Sidecar egress",
    12: "PeerAuthentication",
    13: "AuthorizationPolicy",
    14: "VirtualService exportTo '.'",
    15: "Sidecar ./* + other's rule",
    16: "gateway VS + Telemetry",
    17: "ServiceEntry",
    18: "EnvoyFilter",
    19: "manifest: Workload replicas",
    20: "TCP service, its route alone",
    21: "DestinationRule locality LB",
    22: "DestinationRule workloadSelector",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--check-from",
        type=int,
        default=1,
        help="compare with translation from scratch only from this step on (the changes before "
        "are the same for the seed: reaches a far step of a known seed quickly)",
    )
    parser.add_argument(
        "--proxies",
        type=int,
        default=PROXIES,
        help="sidecars (more than the 60 services: workloads of several pods, spliced own parts)",
    )
    args = parser.parse_args()
    assert len(NAMES) == KINDS
    rows: dict[int, list[tuple[float, int]]] = {k: [] for k in range(KINDS)}
    with tempfile.TemporaryDirectory() as tmp:
        mesh = Mesh(Path(tmp), args.seed, args.proxies)
        mesh.check("initial")
        began, steps, failed = time.monotonic(), 0, ""
        while time.monotonic() - began < args.duration:
            choice = mesh.rng.randrange(KINDS)
            started = time.perf_counter()
            what = mesh.change(choice)
            elapsed = time.perf_counter() - started
            rows[choice].append((elapsed, mesh.cp.regenerated))
            steps += 1
            if steps < args.check_from:
                continue
            try:
                mesh.check(f"step {steps}: {what}")
            except AssertionError as exc:
                failed = str(exc)
                break
    total = time.monotonic() - began
    print(f"{steps} changes in {total:.0f} s, {len(mesh.cp.proxies)} proxies, seed {args.seed}")
    print(f"{'change':32} {'count':>5} {'translated':>10} {'median ms':>9} {'worst ms':>8}")
    for kind, found in rows.items():
        if not found:
            continue
        times = [t * 1000 for t, _ in found]
        translated = statistics.median(n for _, n in found)
        print(
            f"{NAMES[kind]:32} {len(found):5d} {translated:10.0f} "
            f"{statistics.median(times):9.0f} {max(times):8.0f}"
        )
    if failed:
        print(f"DIFFERENCE: {failed}")
        return 1
    checked = f"every change from step {args.check_from}" if args.check_from > 1 else "every change"
    print(f"every proxy equal to translation from scratch after {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
