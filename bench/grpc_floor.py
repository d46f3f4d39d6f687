"""What grpc.aio itself costs per xDS-like message: the floor under the connect storm's event loop.

    .venv/bin/python bench/grpc_floor.py [--streams 2000] [--responses 7] [--bytes 4000]
                                         [--shape bare queued held windowed] [--busy|--churn]

A grpc.aio server in this process (bytes in, bytes out, as `xds.server` registers its handlers,
with its options) and N client streams in a child process (100 streams per channel, as
bench/scale_clients.py). Each stream plays a proxy's connect: it sends a request, gets a
response of --bytes, ACKs it with the next request, ...: --responses responses and one request
more. Server-side shapes, each a full storm:
- `bare`: the handler reads a request and awaits `context.write` of the answer, inline;
- `queued`: as `xds.server` is built: a reader task puts answers on an `asyncio.Queue`, the
  handler writes them (`await context.write`);
- `held`: `queued`, each write awaited in a `WriteWindow` hold with its timeout, as
  `Connection.write_out` does;
- `windowed`: `queued`, each write started as a task and waited with `asyncio.wait(timeout=)`
  inside a `WriteWindow` hold, as `Connection.write_out` did before (main 459ddc3).
`--busy`: a Python thread spins alongside, holding the GIL as the generation thread does;
`--churn`: one walks ~300 MB of dicts alongside (a working set larger than the caches).
Printed per shape: wall, the server's CPU seconds by thread (event loop, gRPC's threads) and the
event loop's microseconds per response (with its requests). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from scale_api import TICKS, free_port  # noqa: E402

from pilotfish.xds.limits import GRPC_OPTIONS  # noqa: E402
from pilotfish.xds.write_window import WriteWindow  # noqa: E402

METHOD = "/floor.Floor/Stream"
STREAMS_PER_CHANNEL = 100  # as bench/scale_clients.py's


def thread_cpu() -> tuple[float, float]:
    """(event loop thread, other threads) CPU seconds of this process."""
    loop = other = 0.0
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        if task.name == str(os.getpid()):
            loop += cpu
        else:
            other += cpu
    return loop, other


class Server:
    def __init__(self, shape: str, size: int, responses: int) -> None:
        self.shape = shape
        self.body = b"x" * size
        self.responses = responses
        self.window = WriteWindow()

    async def handle(self, requests: AsyncIterator[bytes], context: Any) -> None:
        if self.shape == "bare":
            sent = 0
            async for _ in requests:
                if sent < self.responses:
                    await context.write(self.body)
                    sent += 1
            return
        outbox: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def read() -> None:
            sent = 0
            async for _ in requests:
                if sent < self.responses:
                    outbox.put_nowait(self.body)
                    sent += 1
            outbox.put_nowait(None)

        reader = asyncio.create_task(read())
        while (item := await outbox.get()) is not None:
            if self.shape == "queued":
                await context.write(item)
                continue
            if self.shape == "held":
                async with self.window.hold(len(item), 30):
                    await context.write(item)
                continue
            async with self.window.hold(len(item)):
                write = asyncio.ensure_future(context.write(item))
                await asyncio.wait({write}, timeout=0.5)
            if not write.done():
                await asyncio.wait_for(write, 30)
        reader.cancel()


async def client(address: str, streams: int, responses: int) -> None:
    channels = [grpc.aio.insecure_channel(address) for _ in range(0, streams, STREAMS_PER_CHANNEL)]

    async def one(channel: grpc.aio.Channel) -> None:
        call = channel.stream_stream(METHOD, request_serializer=bytes)()
        await call.write(b"request")
        for _ in range(responses):
            await call.read()
            await call.write(b"ack")
        await call.done_writing()
        await call.read()

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(one(channels[i // STREAMS_PER_CHANNEL]) for i in range(streams)))
    for channel in channels:
        await channel.close()


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def _churn(stop: threading.Event) -> None:
    """As `_spin`, walking ~300 MB of dicts (the generation thread's working set is the
    translated mesh's, far larger than the CPU's caches)."""
    heap: list[dict[str, int | str]] = [{"n": n, "s": str(n)} for n in range(1_500_000)]
    while not stop.is_set():
        for start in range(0, len(heap), 1000):
            for item in heap[start : start + 1000]:
                item["s"] = item["n"]
            if stop.is_set():
                return


async def storm(args: argparse.Namespace, shape: str) -> None:
    server = grpc.aio.server(options=list(GRPC_OPTIONS))  # as `xds.server`'s
    handler = Server(shape, args.bytes, args.responses)
    rpc = grpc.stream_stream_rpc_method_handler(
        handler.handle, request_deserializer=bytes, response_serializer=bytes
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("floor.Floor", {"Stream": rpc}),)
    )
    port = free_port("127.0.0.1")
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    command = [sys.executable, __file__, "--client", f"127.0.0.1:{port}"]
    command += ["--streams", str(args.streams), "--responses", str(args.responses)]
    child = await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdin is not None
    assert (await child.stdout.readline()).strip() == b"ready"
    busy = threading.Event()
    if args.busy or args.churn:  # a thread holding the GIL as the generation thread does
        target = _churn if args.churn else _spin
        threading.Thread(target=target, args=(busy,), daemon=True).start()
        await asyncio.sleep(3 if args.churn else 0)  # its heap built
    before, start = thread_cpu(), time.monotonic()
    child.stdin.write(b"go\n")
    await child.stdin.drain()
    assert await child.wait() == 0
    busy.set()
    wall = time.monotonic() - start
    after = thread_cpu()
    loop, other = after[0] - before[0], after[1] - before[1]
    per = loop / (args.streams * args.responses) * 1e6
    print(
        f"{shape}: {args.streams} streams x {args.responses} responses of {args.bytes} bytes: "
        f"{wall:.2f} s, event loop {loop:.2f} s CPU ({per:.0f} us a response), "
        f"gRPC threads {other:.2f} s; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--responses", type=int, default=7)
    parser.add_argument("--bytes", type=int, default=4000)
    parser.add_argument("--shape", nargs="+", default=["bare", "queued", "held", "windowed"])
    parser.add_argument("--busy", action="store_true", help="a Python thread spinning alongside")
    parser.add_argument("--churn", action="store_true", help="one walking a large heap alongside")
    parser.add_argument("--client", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client(args.client, args.streams, args.responses))
        return
    for shape in args.shape:
        asyncio.run(storm(args, shape))


if __name__ == "__main__":
    main()
