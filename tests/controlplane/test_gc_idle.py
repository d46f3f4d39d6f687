"""Full garbage collections run when the control plane is idle, not in the middle of a change:
the automatic one is off while `collect_when_idle` runs (and back on once it stops), and cyclic
garbage is still reclaimed once the process is quiet."""

from __future__ import annotations

import asyncio
import gc
import weakref

from pilotfish.controlplane import gc_idle


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def _cycle_in_oldest_generation() -> weakref.ref[_Node]:
    node = _Node()
    ref = weakref.ref(node)
    gc.collect(1)  # still referenced: it survives young collections into the oldest
    del node  # garbage now, where only a full collection looks
    return ref


def test_full_collections_wait_for_an_idle_process() -> None:
    before = gc.get_threshold()

    async def scenario() -> None:
        task = asyncio.create_task(gc_idle.collect_when_idle(period=0.05, busy=0.5))
        await asyncio.sleep(0)
        assert gc.get_threshold()[2] == gc_idle.NEVER
        ref = _cycle_in_oldest_generation()
        for _ in range(gc_idle.DEFAULT_THIRD + 1):
            gc.collect(1)  # what an allocation burst does: young collections only
        assert ref() is not None  # not collected by them
        for _ in range(100):
            if ref() is None:
                break
            await asyncio.sleep(0.05)
        assert ref() is None, "the idle full collection did not run"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


def test_a_busy_process_is_not_collected() -> None:
    assert not gc_idle.due(cpu_used=1.0, period=2.0)
    for _ in range(gc_idle.DEFAULT_THIRD + 1):
        gc.collect(1)
    assert gc_idle.due(cpu_used=0.0, period=2.0)
    gc.collect()
    assert not gc_idle.due(cpu_used=0.0, period=2.0)  # nothing reached the oldest since
