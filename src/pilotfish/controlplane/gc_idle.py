"""Python's full garbage collections, moved off the change path: run when the process is idle.

CPython collects its oldest generation when enough objects survived younger collections; at
1,000 services / 2,000 proxies the control plane holds millions of tracked objects, and one
full collection takes ~250 ms of CPU (measured in-process: an endpoint change took 357 ms
instead of ~140 ms when one fell in it). Which change pays for it is chance. `collect_when_idle`
turns the automatic full collection off (`gc.set_threshold`'s third threshold) and runs it
itself once the process has used less than `busy` of a CPU for `period` seconds and objects
reached the oldest generation since the last one: cyclic garbage is still reclaimed, only
later, at a quiet moment. Young collections (cheap: they see only new objects) are unchanged.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("pilotfish.controlplane")

PERIOD = 2.0
"""Seconds between idle checks."""
BUSY = 0.05
"""Share of one CPU under which the process counts as idle over a period."""
NEVER = 2**30
"""A third threshold no count reaches: no automatic full collection."""


def defer_full_collections() -> tuple[int, int, int]:
    """Turn off automatic full collections; returns the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], NEVER)
    return before


def due(cpu_used: float, period: float, busy: float = BUSY) -> bool:
    """Whether to collect now: the process was idle over the period, and as many young
    collections ran since the last full one as would have triggered it (`gc.get_count()[2]`
    against the default third threshold)."""
    return cpu_used < busy * period and gc.get_count()[2] > DEFAULT_THIRD


DEFAULT_THIRD = 10
"""CPython's default third threshold: young collections between two full ones."""


async def collect_when_idle(period: float = PERIOD, busy: float = BUSY) -> None:
    """Forever (cancel to stop; the thresholds are restored): a full collection whenever
    `due`."""
    before = defer_full_collections()
    try:
        last = time.process_time()
        while True:
            await asyncio.sleep(period)
            now = time.process_time()
            if due(now - last, period, busy):
                started = time.perf_counter()
                found = gc.collect()
                took = 1000 * (time.perf_counter() - started)
                log.debug("idle full collection: %d unreachable objects, %.0f ms", found, took)
                now = time.process_time()
            last = now
    finally:
        gc.set_threshold(*before)
