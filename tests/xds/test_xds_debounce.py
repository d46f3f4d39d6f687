"""Debouncer: quiet period, max delay under a steady stream, and the asyncio driver."""

from __future__ import annotations

import asyncio

import pytest

from pilotfish.xds.debounce import Debouncer, run_debounced


def test_batch_released_after_quiet_period() -> None:
    debouncer: Debouncer[str] = Debouncer(quiet=0.01, max_delay=1.0)
    assert debouncer.deadline() is None and debouncer.take(5.0) == []
    debouncer.add("a", 0.000)
    debouncer.add("b", 0.005)
    assert debouncer.take(0.010) == []  # only 5 ms quiet so far
    assert debouncer.deadline() == pytest.approx(0.015)
    assert debouncer.take(0.015) == ["a", "b"]
    assert len(debouncer) == 0


def test_steady_stream_still_released_at_max_delay() -> None:
    debouncer: Debouncer[int] = Debouncer(quiet=0.1, max_delay=0.5)
    released: list[list[int]] = []
    for step in range(100):  # an event every 50 ms: never 100 ms quiet
        now = step * 0.05
        debouncer.add(step, now)
        batch = debouncer.take(now)
        if batch:
            released.append(batch)
    assert released, "max_delay must force a release"
    assert all(len(batch) <= 12 for batch in released)  # 0.5 s of events, ± rounding
    assert sum(len(b) for b in released) + len(debouncer) == 100


def test_invalid_settings_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(quiet=2.0, max_delay=1.0)


def test_driver_coalesces_a_burst() -> None:
    async def scenario() -> list[list[int]]:
        events: asyncio.Queue[int] = asyncio.Queue()
        batches: list[list[int]] = []

        async def handle(batch: list[int]) -> None:
            batches.append(batch)

        async def batches_reach(count: int) -> None:
            for _ in range(500):  # up to ~10 s on a loaded machine
                if len(batches) >= count:
                    return
                await asyncio.sleep(0.02)

        # a quiet period far longer than the gaps in the burst, so load cannot split it
        task = asyncio.create_task(run_debounced(events, handle, quiet=0.3, max_delay=5.0))
        for value in range(5):
            events.put_nowait(value)
            await asyncio.sleep(0.001)
        await batches_reach(1)
        events.put_nowait(99)
        await batches_reach(2)
        task.cancel()
        return batches

    assert asyncio.run(scenario()) == [[0, 1, 2, 3, 4], [99]]
