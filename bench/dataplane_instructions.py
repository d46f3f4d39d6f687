"""How `dataplane_limit.py --instructions` measures a path: in instructions, not CPU time.

It counts instructions instead of CPU time: the minimal mTLS pair and the static
rebuilds (the live sidecars cannot run under valgrind; the rebuild costs what they cost) run
under callgrind, and each phase sends N1 then N2 requests (`hey`, one keep-alive connection); the
path's cost per request is the difference of the two Envoys' counts over N2 - N1 answers, so
start-up, connection set-up and TLS handshakes cancel out, and what the Envoys execute idle
(timers, measured for 15 s first) is subtracted. The static bootstraps then flush stats only when
asked (`stats_flush_on_admin`): without the 5 s flush timer, rounds agree to ~0.1-0.5% (with it,
+-2%), where CPU time on a shared machine moves by 10-30%.

Owns sending the requests (`hey`), the idle rate and per-request count of the counted Envoys,
the static bootstraps' quiet stats (`count_quietly`), and the report of the counts; the paths
and their names are `dataplane_limit.py`'s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from pathlib import Path

import callgrind
from dump_pair import Config
from meshbench import machine


def hey(url: str, proxy: str | None, requests: int) -> int:
    """`hey -n` through the path, one keep-alive connection (requests one at a time: with more,
    how many Envoy handles per wake-up, and so its instructions per request, follows the
    machine's load): the number of 200 answers."""
    argv = ["hey", "-n", str(requests), "-c", "1", *(["-x", proxy] if proxy else []), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    answered = re.search(r"\[200\]\s+(\d+) responses", out)
    return int(answered.group(1)) if answered else 0


def _counted(
    url: str, proxy: str | None, outs: list[tuple[int, Path]], idle: dict[int, float], n: int
) -> tuple[float, int]:
    """The instructions the Envoys of a path execute (net of idle) while `n` requests are sent,
    and the 200s answered."""
    for pid, out in outs:
        callgrind.dump(pid, out)  # count from here
    began = time.monotonic()
    answered = hey(url, proxy, n)
    spent = time.monotonic() - began
    total = sum(callgrind.dump(pid, out) - idle[pid] * spent for pid, out in outs)
    return total, answered


def count_instructions(
    url: str, proxy: str | None, outs: list[tuple[int, Path]], idle: dict[int, float],
    requests: tuple[int, int],
) -> dict[str, float]:  # fmt: skip
    """One phase: thousands of instructions per request, from the difference between a run of
    N1 and one of N2 requests (what does not grow with requests cancels out)."""
    if not outs:
        raise RuntimeError(f"no counted Envoy on the path via {proxy}")
    (few, n1), (many, n2) = (_counted(url, proxy, outs, idle, n) for n in requests)
    if n1 < requests[0] * 0.9 or n2 - n1 < (requests[1] - requests[0]) * 0.9:
        raise RuntimeError(f"{url} via {proxy}: only {n1} and {n2} answered 200")
    return {"k_instr_per_request": (many - few) / (n2 - n1) / 1000}


def idle_instructions(outs: dict[int, Path], seconds: float) -> dict[int, float]:
    """Instructions per second each counted Envoy executes with no traffic."""
    for pid, out in outs.items():
        callgrind.dump(pid, out)
    time.sleep(seconds)
    return {pid: callgrind.dump(pid, out) / seconds for pid, out in outs.items()}


def count_quietly(config: Config, args: argparse.Namespace) -> None:
    """With `--instructions`, a static bootstrap without the 5 s stats-flush timer (Envoy then
    flushes only when its admin is asked): a flush of every stat costs as much as a few hundred
    requests, and how many fall into a phase made the idle subtraction the largest noise."""
    if args.instructions:
        config["stats_flush_on_admin"] = True


def report_instructions(
    results: dict[str, list[dict[str, float]]], args: argparse.Namespace, baseline: str, off: str
) -> None:
    """Each path's median k instructions per request (and its rounds), then its ratio to
    `baseline` and, for a path named with the `off` suffix, that of its twin to it."""
    key = "k_instr_per_request"
    print(f"machine: {machine()} (instructions counted by callgrind: load does not move them)")
    print(f"requests per phase: {args.requests} (cost = difference / difference), {args.rounds} "
          f"rounds; upstream nginx 1 KiB; applied: {args.apply or 'nothing'}")  # fmt: skip
    values = {path: [r[key] for r in runs] for path, runs in results.items()}
    for path, runs in values.items():
        listed = ", ".join(f"{v:.1f}" for v in runs)
        print(f"{path:<28} k instructions per request: {statistics.median(runs):8.1f}  ({listed})")
    pairs = [(path, baseline) for path in values if path != baseline]
    pairs += [(path[: -len(off)], path) for path in values if path.endswith(off)]
    # the metrics replaced (`+module...`, `dump_pair`), against the same pair with them off
    pairs += [(path, "static" + off) for path in values if path.startswith("static+module")]
    for path, base in pairs:
        if path in values and base in values:
            per_round = [a / b for a, b in zip(values[path], values[base], strict=True)]
            ratio = statistics.median(values[path]) / statistics.median(values[base])
            print(f"{path + ' / ' + base:<52} x{ratio:.3f}  (per round {spread(per_round)})")


def spread(ratios: list[float]) -> str:
    """The range of a ratio computed per round: `0.98-1.04`."""
    return f"{min(ratios):.2f}-{max(ratios):.2f}"
