"""`xds.write_window.WriteWindow`: writes start while their bytes fit, in arrival order; small
responses to clients slow to read are not held back by a count of writes in flight."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from pilotfish.type_urls import CLUSTER
from pilotfish.xds.connection import Connection
from pilotfish.xds.messages import SotwResponse
from pilotfish.xds.metrics import XdsMetrics
from pilotfish.xds.stream import SotwStream
from pilotfish.xds.write_window import WriteWindow


async def _hold(window: WriteWindow, size: int, started: list[int], done: asyncio.Event) -> None:
    async with window.hold(size):
        started.append(size)
        await done.wait()


def test_writes_start_while_their_bytes_fit_and_in_arrival_order() -> None:
    async def main() -> None:
        window = WriteWindow(100)
        started: list[int] = []
        first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(_hold(window, 60, started, first)),
            asyncio.create_task(_hold(window, 50, started, second)),  # does not fit: waits
            asyncio.create_task(_hold(window, 10, started, third)),  # fits, but comes after
        ]
        await asyncio.sleep(0.01)
        assert started == [60] and window.used == 60
        first.set()
        await asyncio.sleep(0.01)
        assert started == [60, 50, 10] and window.used == 60
        second.set()
        third.set()
        await asyncio.gather(*tasks)
        assert window.used == 0

    asyncio.run(main())


def test_a_response_bigger_than_the_window_goes_alone() -> None:
    async def main() -> None:
        window = WriteWindow(100)
        started: list[int] = []
        big, small = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(_hold(window, 1000, started, big)),
            asyncio.create_task(_hold(window, 1, started, small)),
        ]
        await asyncio.sleep(0.01)
        assert started == [1000] and window.used == 100
        big.set()
        small.set()
        await asyncio.gather(*tasks)
        assert started == [1000, 1] and window.used == 0

    asyncio.run(main())


def test_a_waiting_writer_cancelled_gives_nothing_away() -> None:
    async def main() -> None:
        window = WriteWindow(100)
        started: list[int] = []
        first, never = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(_hold(window, 80, started, first))
        waiter = asyncio.create_task(_hold(window, 80, started, never))
        after = asyncio.create_task(_hold(window, 20, started, first))
        await asyncio.sleep(0.01)
        waiter.cancel()  # its stream went away while it waited
        await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.sleep(0.01)
        assert started == [80, 20]  # the one behind it no longer waits for it
        first.set()
        await asyncio.gather(holder, after)
        assert window.used == 0

    asyncio.run(main())


def test_a_write_held_past_the_limit_gives_its_bytes_to_a_waiting_one_once() -> None:
    """A client slow to read keeps its write going but not the window's bytes, once others
    wait and it has held them `hold_limit`; when it ends, they are not given back twice."""

    async def main() -> None:
        window = WriteWindow(100, hold_limit=0.05)
        started: list[int] = []
        slow, fast, last = asyncio.Event(), asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(_hold(window, 80, started, slow))
        await asyncio.sleep(0.2)  # alone: it keeps its bytes past the limit
        assert window.used == 80
        waiter = asyncio.create_task(_hold(window, 80, started, fast))
        await asyncio.sleep(0.01)
        assert started == [80, 80] and window.used == 80  # the slow one's bytes expired
        slow.set()
        await holder
        assert window.used == 80  # the waiter's, not given back by the slow one's end
        third = asyncio.create_task(_hold(window, 30, started, last))
        await asyncio.sleep(0.01)
        assert started == [80, 80] and window.used == 80  # waits for the second
        await asyncio.sleep(0.1)
        assert started == [80, 80, 30] and window.used == 30  # the second held it too long
        fast.set()
        last.set()
        await asyncio.gather(waiter, third)
        assert window.used == 0

    asyncio.run(main())


def test_a_timed_write_that_runs_out_raises_timeout_and_gives_its_bytes_back() -> None:
    """The window's timeout, as `asyncio.timeout`: the late write is cancelled and the hold
    raises TimeoutError; a write done in time and one without a timeout go on."""

    async def timed(window: WriteWindow, delay: float, timeout: float | None) -> str:
        try:
            async with window.hold(10, timeout):
                await asyncio.sleep(delay)
        except TimeoutError:
            return "timed out"
        return "done"

    async def main() -> None:
        window = WriteWindow(100)
        outcomes = await asyncio.gather(
            timed(window, 0.3, 0.05),  # late: cancelled at 0.05 s
            timed(window, 0.01, 0.05),  # in time
            timed(window, 0.1, None),  # no timeout
            timed(window, 0.3, 0.15),  # late too, a later deadline
        )
        assert list(outcomes) == ["timed out", "done", "done", "timed out"]
        assert window.used == 0

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 0.28  # neither late one waited for its sleep


def test_a_timed_write_cancelled_from_outside_is_cancelled_not_timed_out() -> None:
    async def main() -> None:
        window = WriteWindow(100)

        async def write() -> None:
            async with window.hold(10, 5.0):
                await asyncio.sleep(1)

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.01)
        writer.cancel()  # the stream went away
        with pytest.raises(asyncio.CancelledError):
            await writer
        assert window.used == 0

    asyncio.run(main())


def test_a_window_needs_a_budget() -> None:
    with pytest.raises(ValueError):
        WriteWindow(0)


class _SlowReader:
    """A client that reads nothing until told to."""

    def __init__(self, started: list[int], read: asyncio.Event) -> None:
        self.started = started
        self.read = read

    async def write(self, payload: bytes) -> None:
        self.started.append(len(payload))
        await self.read.wait()


def test_small_responses_to_slow_readers_are_not_capped_by_a_count_of_writes() -> None:
    """300 streams each write a 1 KB response to a client slow to read: with room for their
    bytes, every write starts at once (64 write slots held 0.5 s each started 64)."""

    async def main() -> int:
        window = WriteWindow(1024 * 1024)
        started: list[int] = []
        read = asyncio.Event()
        cds = XdsMetrics(CollectorRegistry()).of_type("cds")
        writers = []
        for _ in range(300):
            connection = Connection(SotwStream(), time.time())
            response = SotwResponse(CLUSTER, "v", "1", (), b"x" * 1024)
            connection.outbox.put_nowait((response, cds, time.monotonic()))
            connection.outbox.put_nowait(None)
            context = _SlowReader(started, read)
            writers.append(asyncio.create_task(connection.write_out(context, window, 30.0)))
        await asyncio.sleep(0.2)  # shorter than a write may hold its bytes (SLOT_HOLD)
        count = len(started)
        read.set()
        await asyncio.gather(*writers)
        assert window.used == 0
        return count

    assert asyncio.run(main()) == 300
