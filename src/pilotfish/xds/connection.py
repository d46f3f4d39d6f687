"""One open ADS stream on the server: its protocol state, its outbox and its writer.

Owns `Connection` (what `xds.server` keeps per stream), `Connection.enqueue` (a push's
responses queued within the stream's limits) and `Connection.write_out`, the loop that moves
queued responses to the client within the server's shared write window (`xds.write_window`).
Imports only `xds.stream`/`xds.limits`/`xds.metrics`-level modules; never the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.xds.delta_stream import DeltaStream
from pilotfish.xds.limits import RefusedRequest, StreamLimits
from pilotfish.xds.messages import Response
from pilotfish.xds.metrics import TypeMetrics, XdsMetrics
from pilotfish.xds.resources import short_name
from pilotfish.xds.stream import SotwStream
from pilotfish.xds.write_window import WriteWindow

log = logging.getLogger("pilotfish.xds")  # Istio's `ads` scope (`controlplane.scopes`)


@dataclass(eq=False)
class Connection:
    """One open ADS stream."""

    stream: SotwStream | DeltaStream
    connected_at: float
    outbox: asyncio.Queue[tuple[Response, TypeMetrics, float] | None] = field(
        default_factory=asyncio.Queue
    )
    """(response, its type's metrics, when it was queued). A queued response references
    the encoded resources every stream shares; its own copy (the wire bytes) is made when it is
    written, within the write window, so a storm of pushes to thousands of streams holds about
    the window's bytes of copies, not one per stream."""
    node_id: str = ""
    version: str = ""
    closing: bool = False  # over a limit: the writer stops at the next message
    credential: object = None  # what the observer admitted the stream with
    refused: RefusedRequest | None = None  # a request refused: the stream ends with its status
    requests: int = 0  # requests read (none: see `Refusals.unread`)
    answering: bool = False  # a VHDS demand is being answered: pushes wait for its reply
    push_held: bool = False  # a push came meanwhile (`XdsServer._push_now`)
    unwritten: int = 0  # responses queued or being written: 0 once the client has them all

    def enqueue(
        self,
        responses: tuple[Response, ...],
        limits: StreamLimits,
        metrics: XdsMetrics,
    ) -> tuple[str, str] | None:
        """Queue responses for the writer, counted in `metrics`; over a limit, (the refusal's
        reason, why) and nothing more is queued: the server closes the stream."""
        now = time.monotonic()
        if self.outbox.qsize() + len(responses) > limits.max_queued:
            return "queue", f"more than {limits.max_queued} responses wait for it"
        for response in responses:
            size = response.size()  # its bytes are made when written (`write_out`)
            counted = metrics.of_type(short_name(response.type_url))
            if size > limits.max_response_bytes:
                limit = limits.max_response_bytes
                why = f"its {counted.kind} response of {size} bytes is over the {limit} bytes"
                return "response_size", why + " an xDS message may be"
            self.outbox.put_nowait((response, counted, now))
            if log.isEnabledFor(logging.DEBUG):  # `pilotfish admin log --level ads:debug`
                log.debug(
                    "%s: PUSH for node:%s resources:%d size:%dB version:%s", counted.kind,
                    self.node_id, len(response.resource_names), size, response.version,
                )  # fmt: skip
            self.unwritten += 1
            counted.pushes.inc()
            counted.config_size.observe(size)
        return None

    async def write_out(
        self,
        context: Any,
        window: WriteWindow,
        write_timeout: float,
        written: Callable[[Connection, float], None] = lambda _, __: None,
    ) -> None:
        """Write queued responses until the outbox says stop (None) or the stream is closing.
        A response's bytes are made and its write started once its size fits in the write
        window (a client slow to read holds them `write_window.SLOT_HOLD` at most while others
        wait); one that has not read a response in `write_timeout` seconds raises
        TimeoutError (both kept by the window). The write is awaited here, with no task, timed
        wait or timer of its own (bench/grpc_floor.py), and a cancelled stream cancels it.
        `written(self, issued)` is called each time the last queued response has been written
        (`issued`: when its write was handed to gRPC, which sends it from its own thread; the
        loop may see the write complete much later while it is busy with a big push)."""
        while (item := await self.outbox.get()) is not None and not self.closing:
            response, counted, queued = item
            async with window.hold(response.size(), write_timeout):
                data = response.to_bytes()
                issued = time.monotonic()
                await context.write(data)
            counted.push_time.observe(time.monotonic() - queued)
            self.unwritten -= 1
            if not self.unwritten:
                written(self, issued)
