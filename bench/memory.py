"""Memory per sidecar in a running Bookinfo mesh: RSS, PSS and private memory of each Envoy and
of each Python app, from /proc/<pid>/smaps_rollup. Envoy's binary pages are shared by every
sidecar, so RSS overstates what one more sidecar costs; private memory is that cost.

    .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from meshbench import BenchMesh, machine


def rollup(pid: int) -> dict[str, int]:
    """kB values of Rss, Pss and Private_* from smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0])
    values["Private"] = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return values


def main() -> int:
    mesh = BenchMesh(ingress="127.254.10.10")
    rows: dict[str, list[dict[str, int]]] = {"envoy": [], "app": []}
    try:
        mesh.run("up", "samples/bookinfo", "--detach", "--ingress-address", mesh.ingress)
        for proxy in mesh.info["proxies"].values():
            rows["envoy"].append(rollup(proxy["envoy_pid"]))
            if proxy.get("app_pid"):
                rows["app"].append(rollup(proxy["app_pid"]))
    finally:
        mesh.down()
    print(f"machine: {machine()}")
    print(
        f"{'process':<8} {'count':>5} {'RSS MiB':>8} {'PSS MiB':>8} {'private MiB':>12}  (medians)"
    )
    for kind, samples in rows.items():
        med = {
            k: statistics.median(s[k] for s in samples) / 1024 for k in ("Rss", "Pss", "Private")
        }
        print(
            f"{kind:<8} {len(samples):>5} {med['Rss']:>8.1f} {med['Pss']:>8.1f}"
            f" {med['Private']:>12.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
