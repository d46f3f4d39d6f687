"""Prototype of the second core for the connect storm (issue 9): the ADS streams served by one
process, translation done by another. A measurement, not a product mode.

    .venv/bin/python bench/serving_split.py [--services 1000] [--proxies 2000]

Three processes: this one (the bench: starts the others, runs bench/scale.py's simulated
proxies, measures); a *translator* (`--translator`: `ControlPlane` in process, fed the scale
mesh's config and instances, the product defaults: on-demand clusters and virtual hosts); and
the *server* it starts (`--server`: the real `XdsServer`, whose snapshot generator and demand
calls are requests to the translator over a pipe, answered in order with the snapshots they
published, content-addressed as bench/serving_handover.py hands them over). The proxies connect
to the server. Printed: the storm's wall (every proxy has CDS, EDS, LDS and RDS and nothing came
for --quiet seconds) and the CPU seconds of the translator and of the server over it. Compare
with bench/scale.py's connect storm (one process does both).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meshbench import machine  # noqa: E402
from scale_api import TICKS, free_port, proc_stats  # noqa: E402
from scale_clients import OWN_CONNECTIONS  # noqa: E402
from scale_mesh import Topology  # noqa: E402
from scale_proxies import Clients, settle  # noqa: E402
from serving_handover import Handover  # noqa: E402
from storm_split import storm_nodes  # noqa: E402

from pilotfish.xds.cache import SnapshotCache  # noqa: E402
from pilotfish.xds.resources import Snapshot  # noqa: E402
from pilotfish.xds.server import XdsServer  # noqa: E402

HEAD = struct.Struct("!I")
LOOP_READER = "SERVING_SPLIT_LOOP_READER"
"""Set: the server reads the translator's messages on its event loop, not in a thread."""
NO_COLLECTIONS = "SERVING_SPLIT_NO_COLLECTIONS"
"""Set: both processes freeze their heap once set up and make no collection from then on (a
lower bound: the product collects once after a burst, `gc_freeze.hold`)."""


def _no_collections() -> None:
    if os.environ.get(NO_COLLECTIONS):
        gc.collect()
        gc.freeze()
        gc.disable()


def send(pipe: IO[bytes], lock: threading.Lock, message: Any) -> None:
    data = pickle.dumps(message, protocol=5)
    with lock:
        pipe.write(HEAD.pack(len(data)) + data)
        pipe.flush()


def receive(pipe: IO[bytes]) -> Any:
    head = pipe.read(HEAD.size)
    if len(head) < HEAD.size:
        return None
    return pickle.loads(pipe.read(HEAD.unpack(head)[0]))


# ---- the translator ----------------------------------------------------------------------
def translator(args: argparse.Namespace) -> None:
    from pilotfish.controlplane.core import ControlPlane
    from pilotfish.controlplane.instances import instance_from_json

    topo = Topology(args.services, args.proxies, block=args.block)
    with tempfile.TemporaryDirectory(prefix="pilotfish-split-") as home:
        cp = ControlPlane(Path(home), on_demand_clusters=True, on_demand_routes=True)
        cp.load_state()
        assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
        cp.connected = lambda: list(cp.proxies)
        cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
        _no_collections()
        server = subprocess.Popen(
            [sys.executable, __file__, "--server", args.address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert server.stdin is not None and server.stdout is not None
        to_server, lock, handover = server.stdin, threading.Lock(), Handover()
        cp.cache.watch(lambda n, s, _: send(to_server, lock, ("pub", handover.encode(n, s))))
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the bench is done
        print(f"ready {server.pid}", flush=True)
        calls: dict[str, Callable[..., Any]] = {
            "connect": cp.snapshot_for_node,
            "demand": cp.demand,
            "hosts": cp.demand_hosts,
        }
        try:
            while (request := receive(server.stdout)) is not None:
                number, kind, call_args = request
                answer = calls[kind](*call_args)
                send(to_server, lock, ("reply", number, answer if kind == "hosts" else None))
        finally:
            to_server.close()  # the server stops
            server.wait(20)


# ---- the server --------------------------------------------------------------------------
class Remote:
    """The translator, called from the server's generation thread (one call at a time)."""

    def __init__(self, cache: SnapshotCache) -> None:
        self.cache, self.lock, self.handover = cache, threading.Lock(), Handover()
        self.answers: dict[int, Any] = {}
        self.ready = threading.Condition()
        self.number = 0
        self.ended = threading.Event()  # the translator closed the pipe
        if not os.environ.get(LOOP_READER):
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while (message := receive(sys.stdin.buffer)) is not None:
                self._handle(message)
        finally:
            self.ended.set()

    async def read_on_loop(self) -> None:
        """`_read` on the event loop instead of a thread of its own (`LOOP_READER`)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 30)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        try:
            while True:
                head = await reader.readexactly(HEAD.size)
                self._handle(pickle.loads(await reader.readexactly(HEAD.unpack(head)[0])))
        except asyncio.IncompleteReadError:
            pass
        finally:
            self.ended.set()

    def _handle(self, message: Any) -> None:
        if message[0] == "pub":
            node_id, version, types = self.handover.decode(message[1])
            snapshot = Snapshot.__new__(Snapshot)
            snapshot._types, snapshot._messages, snapshot._parts = types, None, ()
            snapshot.version = version
            self.cache.set(node_id, snapshot)
        else:
            with self.ready:
                self.answers[message[1]] = message[2]
                self.ready.notify_all()

    def call(self, kind: str, *args: Any) -> Any:
        self.number += 1
        number = self.number
        send(sys.stdout.buffer, self.lock, (number, kind, args))
        with self.ready:
            self.ready.wait_for(lambda: number in self.answers)
            return self.answers.pop(number)


async def server(address: str) -> None:
    cache = SnapshotCache()
    remote = Remote(cache)
    xds = XdsServer(
        lambda node_id, metadata: remote.call("connect", node_id, metadata),
        cache=cache,
        demand=lambda node_id, names: remote.call("demand", node_id, names),
        demand_hosts=lambda node_id, aliases: remote.call("hosts", node_id, aliases),
    )
    await xds.start(address)
    _no_collections()
    reading = asyncio.create_task(remote.read_on_loop()) if os.environ.get(LOOP_READER) else None
    while not remote.ended.is_set() and os.getppid() != 1:
        await asyncio.sleep(0.2)
    await xds.stop(0.5)
    if reading is not None:
        reading.cancel()


# ---- the bench ---------------------------------------------------------------------------
def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process, by thread id."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


async def listening(host: str, port: int, pid: int) -> None:
    """Until the server accepts connections (its imports and start are not the storm's)."""
    while True:
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=1).close()
            return
        if not Path(f"/proc/{pid}").exists():
            raise RuntimeError("the server process ended")
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace) -> str:
    topo = Topology(args.services, args.proxies, block=args.block)
    host = f"127.{args.block}.0.1"
    address = f"{host}:{free_port(host)}"
    command = [sys.executable, __file__, "--translator", address, "--block", str(args.block)]
    command += ["--services", str(args.services), "--proxies", str(args.proxies)]
    started = time.monotonic()
    translating = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert translating.stdout is not None
    ready = translating.stdout.readline().decode().split()
    serving = int(ready[1])
    print(f"setup (translator fed, server started): {time.monotonic() - started:.1f} s")
    nodes = storm_nodes(topo)
    os.environ[OWN_CONNECTIONS] = "1"  # as bench/storm_split.py's clients, to compare
    scratch = Path(tempfile.mkdtemp(prefix="pilotfish-split-clients-"))
    clients = Clients(address, nodes, args.client_processes, scratch)
    try:
        await listening(host, int(address.rsplit(":", 1)[1]), serving)
        await clients.start()
        cpu0 = [proc_stats(translating.pid)[0], proc_stats(serving)[0]]
        threads0 = thread_cpu(serving)
        start = time.monotonic()
        clients.go()
        seen: dict[int, set[str]] = {}
        while sum(1 for s in seen.values() if len(s) >= 4) < len(nodes):
            for index, short, _, _ in clients.received.events[sum(map(len, seen.values())) :]:
                seen.setdefault(index, set()).add(short)
            if time.monotonic() - start > args.timeout:
                raise RuntimeError(f"storm not synced in {args.timeout} s")
            await asyncio.sleep(0.05)
        await settle(clients.received, start, args.quiet, args.timeout)
        cpu = [proc_stats(translating.pid)[0] - cpu0[0], proc_stats(serving)[0] - cpu0[1]]
        threads = {t: c - threads0.get(t, 0.0) for t, c in thread_cpu(serving).items()}
        wall = max(e[3] for e in clients.received.since(start)) - start
        responses = len(clients.received.since(start))
    finally:
        await clients.stop()
        translating.terminate()  # its server sees stdin close and stops
        with contextlib.suppress(subprocess.TimeoutExpired):
            translating.wait(20)
        translating.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"storm {wall:.2f} s, {responses} responses; CPU: translator {cpu[0]:.2f} s, "
        f"server {cpu[1]:.2f} s, both {sum(cpu):.2f} s"
    )
    loop = threads.pop(serving, 0.0)  # the main thread runs the event loop
    others = ", ".join(f"{c:.2f}" for c in sorted(threads.values(), reverse=True) if c >= 0.01)
    print(f"server threads, CPU s: event loop {loop:.2f}; others {others}")
    return (
        f"serving_split: services={args.services} proxies={args.proxies} connect_s={wall:.2f} "
        f"translator_cpu={cpu[0]:.2f} server_cpu={cpu[1]:.2f} load={os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=2000)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--quiet", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--block", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--translator", default="", help=argparse.SUPPRESS)
    parser.add_argument("--server", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.translator:
        args.address = args.translator
        translator(args)
    elif args.server:
        asyncio.run(server(args.server))
    else:
        args.block = args.block or 100 + os.getpid() % 150
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
        print(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
