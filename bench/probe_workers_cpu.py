"""CPU of the kubelet's probe workers (`agent.kubelet_probes.ContainerProber`) while idle
between probes: what a node of many probed containers pays for their timers.

    .venv/bin/python bench/probe_workers_cpu.py [--containers 500] [--period 1] [--seconds 10]

`--containers` workers, each with a startup and a liveness probe of `--period` seconds whose
check answers at once (so what is measured is the loop, not a probe's I/O), run for `--seconds`
of wall time in one event loop; prints the process CPU, the probes run, and CPU per probe.
One task per container sleeping until its next probe: the CPU grows with the probes run, not
with wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time

from pilotfish.agent.kubelet_probes import ContainerProber
from pilotfish.agent.probes import Outcome
from pilotfish.registry.workloads import Probe


async def run(containers: int, period: int, seconds: float) -> int:
    probes = 0

    async def check(probe: Probe) -> Outcome:
        nonlocal probes
        probes += 1
        return Outcome(True)

    async def kill(grace: float) -> None:
        return None

    started = time.monotonic()
    workers = []
    for i in range(containers):
        startup = Probe(f"c{i}", "tcp", 80, period_seconds=period, endpoint="startupz")
        liveness = Probe(f"c{i}", "tcp", 80, period_seconds=period, endpoint="livez")
        worker = ContainerProber(f"c{i}", startup, liveness, check, functools.partial(
            lambda run: run, (i, started)), kill)  # fmt: skip
        worker.start()
        workers.append(worker)
    await asyncio.sleep(seconds)
    for worker in workers:
        await worker.stop()
    return probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--period", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    cpu = time.process_time()
    probes = asyncio.run(run(args.containers, args.period, args.seconds))
    used = time.process_time() - cpu
    per_probe = used / max(probes, 1) * 1e6
    print(f"{args.containers} containers, period {args.period} s, {args.seconds:g} s: "
          f"{probes} probes, {used:.2f} s CPU, {per_probe:.0f} µs per probe")  # fmt: skip


if __name__ == "__main__":
    main()
