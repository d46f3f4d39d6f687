"""`xds.connection.Connection.write_out`: a stream cancelled while a write is in flight leaves
no unretrieved failure behind (asyncio logs one with a traceback into the control plane's log:
seen in CI when 300 rogue streams were cancelled at once)."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry

from pilotfish.type_urls import CLUSTER
from pilotfish.xds.connection import Connection
from pilotfish.xds.messages import SotwResponse
from pilotfish.xds.metrics import XdsMetrics
from pilotfish.xds.stream import SotwStream
from pilotfish.xds.write_window import WriteWindow


class _StuckContext:
    """A gRPC context whose writes wait until the client is gone, then fail as gRPC's do."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.writes = 0

    async def write(self, payload: bytes) -> None:
        self.writes += 1
        await self.gone.wait()
        raise RuntimeError('Failed "execute_batch"')


def test_a_write_left_by_a_cancelled_stream_fails_quietly() -> None:
    unretrieved: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unretrieved.append(ctx))
        context = _StuckContext()
        connection = Connection(SotwStream(), time.time())
        response = SotwResponse(CLUSTER, "v", "1", (), b"x")
        cds = XdsMetrics(CollectorRegistry()).of_type("cds")
        connection.outbox.put_nowait((response, cds, time.monotonic()))
        writer = asyncio.create_task(connection.write_out(context, WriteWindow(1), 30.0))
        await asyncio.sleep(0.05)  # the write is in flight, holding the write window
        writer.cancel()  # the handler is cancelled as gRPC cancels it when the client leaves
        await asyncio.gather(writer, return_exceptions=True)
        context.gone.set()
        await asyncio.sleep(0.05)
        assert context.writes == 1
        gc.collect()  # an unretrieved exception is reported when its future is collected

    asyncio.run(main())
    gc.collect()
    assert not unretrieved, unretrieved


def test_the_writer_stops_at_the_end_of_the_outbox_and_times_the_pushes() -> None:
    class _Context:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        async def write(self, payload: bytes) -> None:
            self.sent.append(payload)

    async def main() -> list[bytes]:
        context = _Context()
        connection = Connection(SotwStream(), time.time())
        registry = CollectorRegistry()
        cds = XdsMetrics(registry).of_type("cds")
        for body in (b"a", b"b", b"", b"never"):
            item = (SotwResponse(CLUSTER, "v", "1", (), body), cds, time.monotonic())
            connection.outbox.put_nowait(item if body else None)  # None: the end
        await connection.write_out(context, WriteWindow(1), 30.0)
        assert registry.get_sample_value("pilot_xds_push_time_count", {"type": "cds"}) == 2
        return context.sent

    expected = [SotwResponse(CLUSTER, "v", "1", (), b).to_bytes() for b in (b"a", b"b")]
    assert asyncio.run(main()) == expected  # made when written
