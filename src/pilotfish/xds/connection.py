"""One open ADS stream on the server: its protocol state, its outbox and its writer.

Owns `Connection` (what `xds.server` keeps per stream) and `Connection.write_out`, the loop
that moves queued responses to the client under the server's shared write slots. Imports only
`xds.stream`/`xds.limits`-level modules; never the server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram

from pilotfish.xds.delta_stream import DeltaStream
from pilotfish.xds.limits import RefusedRequest
from pilotfish.xds.stream import SotwStream

SLOT_HOLD = 0.5  # seconds a write may hold one of the shared write slots


def _retrieve(write: asyncio.Future[None]) -> None:
    """Take a write's outcome: one left behind by a cancelled stream fails once its client is
    gone, and an outcome nobody took is logged by asyncio with a traceback."""
    if not write.cancelled():
        write.exception()


@dataclass(eq=False)
class Connection:
    """One open ADS stream."""

    stream: SotwStream | DeltaStream
    connected_at: float
    outbox: asyncio.Queue[tuple[bytes, str, float] | None] = field(default_factory=asyncio.Queue)
    """(response bytes, its type's short name, when it was queued)."""
    node_id: str = ""
    version: str = ""
    closing: bool = False  # over a limit: the writer stops at the next message
    credential: object = None  # what the observer admitted the stream with
    refused: RefusedRequest | None = None  # a request refused: the stream ends with its status
    requests: int = 0  # requests read (none: see `Refusals.unread`)

    async def write_out(
        self,
        context: Any,
        slots: asyncio.Semaphore,
        write_timeout: float,
        push_time: Histogram,
    ) -> None:
        """Write queued responses until the outbox says stop (None) or the stream is closing.
        A client slow to read holds a write slot for `SLOT_HOLD` at most; one that has not read
        a response in `write_timeout` seconds raises TimeoutError."""
        while (item := await self.outbox.get()) is not None and not self.closing:
            payload, kind, queued = item
            write = asyncio.ensure_future(context.write(payload))
            write.add_done_callback(_retrieve)
            async with slots:
                await asyncio.wait({write}, timeout=SLOT_HOLD)
            await asyncio.wait_for(write, write_timeout)
            push_time.labels(kind).observe(time.monotonic() - queued)
