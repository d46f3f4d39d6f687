"""An open-loop HTTP/1.1 load generator (asyncio protocols, standard library only), for
data-plane benchmarks at a constant rate.

Why not `hey -q`: each hey worker sends its next request only after the previous answer, and its
ticker drops the ticks it missed, so a slow answer delays the requests behind it and they are
never counted late (coordinated omission: the closed loop hides queueing). No open-loop
generator is packaged in Debian 12 or on PyPI as a usable tool here (no vegeta, wrk2, fortio,
httperf; `wrk` and `h2load` are closed loops too), hence this one.

Request i is due at start + i / rate, whatever happened to the requests before it: it goes out
on an idle keep-alive connection, or on a new one (opened on demand, up to `max_connections`;
past that it waits, and the wait is counted), never after an answer it does not need. Two
latencies are kept per request:
- `p50_ms`/`p90_ms`/`p99_ms`: from the moment the request was written to the last byte of its
  answer (microsecond clock);
- `due_p99_ms`: from the moment it was DUE, which adds the generator's own lateness (the event
  loop wakes on a millisecond timer, and competes for CPU on a loaded machine): it is what a
  client on a strict schedule would see, and `lag_p99_ms` (write time - due time) says how far
  the generator itself fell behind. A run with a high lag is suspect.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TIMEOUT = 5.0


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    due_latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: int = 0
    opened: int = 0


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of `values` (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered), math.ceil(pct / 100 * len(ordered))) - 1)
    return ordered[rank]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time, answer framed by
    Content-Length (or the end of a chunked body)."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = self.sent = 0.0
        self.busy = False
        self.need = -1  # bytes of head + body, once the head is in
        self.status = 0
        self.chunked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, due: float) -> None:
        assert self.transport is not None
        self.due, self.busy, self.need = due, True, -1
        self.sent = time.perf_counter()
        self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            start = head.find(b"\r\ncontent-length:")
            self.chunked = start < 0
            if start >= 0:
                start += len(b"\r\ncontent-length:")
                stop = head.find(b"\r\n", start)
                self.need = end + 4 + int(head[start : stop if stop >= 0 else len(head)])
            else:
                self.need = end + 4
        if self.chunked:
            if not self.buffer.endswith(b"\r\n0\r\n\r\n"):
                return
        elif len(self.buffer) < self.need:
            return
        done = time.perf_counter()
        self.buffer.clear()
        self.busy = False
        self.load.answered(self, self.status, done - self.sent, done - self.due)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost(self)


class _Load:
    def __init__(self, request: bytes, cap: int) -> None:
        self.request = request
        self.cap = cap
        self.tally = _Tally()
        self.idle: list[_Connection] = []
        self.waiting: collections.deque[float] = collections.deque()
        self.connections: set[_Connection] = set()
        self.opening = 0
        self.in_flight = 0
        self.settled = asyncio.Event()

    async def open(self, host: str, port: int) -> None:
        self.opening += 1
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self), host, port)
        except OSError:
            self.tally.errors += len(self.waiting)
            self.in_flight -= len(self.waiting)
            self.waiting.clear()
            return
        finally:
            self.opening -= 1
        self.tally.opened += 1
        self.connections.add(conn)
        self.free(conn)

    def submit(self, due: float, host: str, port: int) -> None:
        self.in_flight += 1
        self.settled.clear()
        if self.idle:
            self._send(self.idle.pop(), due)
            return
        self.waiting.append(due)
        if len(self.connections) + self.opening < self.cap:
            asyncio.get_running_loop().create_task(self.open(host, port))

    def _send(self, conn: _Connection, due: float) -> None:
        conn.send(due)
        self.tally.lags.append(conn.sent - due)

    def free(self, conn: _Connection) -> None:
        if self.waiting:
            self._send(conn, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def answered(self, conn: _Connection, status: int, latency: float, due: float) -> None:
        self.tally.codes[status] += 1
        self.tally.latencies.append(latency)
        self.tally.due_latencies.append(due)
        self._done()
        self.free(conn)

    def lost(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            self.tally.errors += 1
            self._done()

    def _done(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.settled.set()


async def _run(
    url: str, rate: float, seconds: float, proxy: str | None, warm: int, cap: int
) -> _Tally:
    parts = urlsplit(url)
    via = urlsplit(proxy) if proxy else parts
    target = url if proxy else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: openloop\r\n\r\n"
    host, port = via.hostname or "127.0.0.1", via.port or 80
    load = _Load(request.encode(), cap)
    await asyncio.gather(*(load.open(host, port) for _ in range(warm)))
    load.tally.opened = 0
    start = time.perf_counter()
    total = int(rate * seconds)
    i = 0
    while i < total:
        now = time.perf_counter()
        while i < total and start + i / rate <= now:
            load.submit(start + i / rate, host, port)
            i += 1
        if i < total:
            await asyncio.sleep(start + i / rate - time.perf_counter())
    if load.in_flight:
        try:
            await asyncio.wait_for(load.settled.wait(), TIMEOUT)
        except TimeoutError:
            load.tally.errors += load.in_flight
    for conn in list(load.connections):
        if conn.transport is not None:
            conn.transport.close()
    await asyncio.sleep(0)
    return load.tally


def run(
    url: str,
    rate: float,
    seconds: float,
    proxy: str | None = None,
    warm: int = 8,
    max_connections: int = 512,
) -> dict[str, float]:
    """`rate` requests/s for `seconds` to `url` (through the HTTP proxy `proxy`, e.g.
    `http://127.1.0.2:15001`, if given). Returns the keys of `meshbench.hey` (rps, p50_ms,
    p90_ms, p99_ms, non_200, total, errors) plus due_p99_ms, lag_p99_ms and connections_opened
    (new connections needed during the run, beyond the `warm` ones opened before it)."""
    tally = asyncio.run(_run(url, rate, seconds, proxy, warm, max_connections))
    answered = sum(tally.codes.values())
    result = {f"p{p}_ms": percentile(tally.latencies, p) * 1000 for p in (50, 90, 99)}
    result |= {
        "rps": answered / seconds,
        "total": float(answered),
        "non_200": float(answered - tally.codes[200]),
        "errors": float(tally.errors),
        "due_p99_ms": percentile(tally.due_latencies, 99) * 1000,
        "lag_p99_ms": percentile(tally.lags, 99) * 1000,
        "connections_opened": float(tally.opened),
    }
    return result
