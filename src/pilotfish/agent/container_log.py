"""A container's log as a kubelet keeps it, for `kubectl logs --timestamps|--since|--previous`.

The agent reads its child's stdout and stderr from a pipe (as a container runtime does) and
appends what it reads, unchanged, to the instance's log file (`app.log`, `envoy.log`: readers
of those files see what they always saw). Beside it, `<log>.times` (text, appended) says when
each piece arrived and where each run of the container starts:

    run START_OFFSET UNIX_NS     a (re)start of the container: its output begins at that offset
    END_OFFSET UNIX_NS           the bytes up to END_OFFSET had arrived at UNIX_NS

A line's time is that of the piece holding its end (the CRI stamps a line when the runtime
reads it). A hot restart of a gateway's Envoy (a new process in the same container) is no new
run, as it is no container restart. `read_runs` gives the runs back: the current one is what
`kubectl logs` shows, the one before it `--previous`.

The pump ends when every holder of the pipe's write end (the child and what it started) is gone.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("pilotfish.agent")

SUFFIX = ".times"
_PUMPS: set[asyncio.Task[None]] = set()  # held until they end (the loop keeps weak references)


def times_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + SUFFIX)


def open_pipe(log_path: Path, new_run: bool) -> int:
    """A pipe whose read end is pumped into `log_path` (and its times); its write end, for the
    child's stdout and stderr (the caller closes it once the child holds it). `new_run`
    marks where this run of the container begins."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    stamps = os.open(times_path(log_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if new_run:
        os.write(stamps, f"run {os.fstat(out).st_size} {time.time_ns()}\n".encode())
    read_end, write_end = os.pipe()
    task = asyncio.get_running_loop().create_task(_pump(read_end, out, stamps))
    _PUMPS.add(task)
    task.add_done_callback(_PUMPS.discard)
    return write_end


async def _pump(read_end: int, out: int, stamps: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    pipe = os.fdopen(read_end, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while chunk := await reader.read(1 << 16):
            os.write(out, chunk)
            end = os.lseek(out, 0, os.SEEK_END)
            os.write(stamps, f"{end} {time.time_ns()}\n".encode())
    except OSError as exc:  # a full disk: the child keeps running, its output is lost
        log.warning("container log: cannot write: %s", exc)
    finally:
        transport.close()
        os.close(out)
        os.close(stamps)


@dataclass(frozen=True)
class Run:
    """One run of a container: its bytes in the log, and when each piece of them arrived."""

    start: int
    end: int
    started: int  # unix ns
    arrivals: tuple[tuple[int, int], ...]  # (end offset, unix ns), by offset

    def lines(self, text: bytes) -> list[tuple[int, bytes]]:
        """This run's lines of the whole log `text`, each with the time it arrived."""
        found: list[tuple[int, bytes]] = []
        ends = [e for e, _ in self.arrivals]
        pos = self.start
        for line in text[self.start : self.end].splitlines(keepends=True):
            pos += len(line)
            at = bisect.bisect_left(ends, pos)
            found.append((self.arrivals[at][1] if at < len(ends) else self.started, line))
        return found


def read_runs(log_path: Path) -> list[Run] | None:
    """The runs of the container logging to `log_path`, oldest first; None when no times were
    kept (a log the agent did not pump)."""
    try:
        text = times_path(log_path).read_text()
        size = log_path.stat().st_size
    except OSError:
        return None
    starts: list[tuple[int, int]] = []
    arrivals: list[tuple[int, int]] = []
    for row in text.splitlines():
        words = row.split()
        try:
            if len(words) == 3 and words[0] == "run":
                starts.append((int(words[1]), int(words[2])))
            elif len(words) == 2:
                arrivals.append((int(words[0]), int(words[1])))
        except ValueError:
            continue  # a line cut short by a crash
    if not starts:
        return None
    arrivals.sort()
    bounds = [s for s, _ in starts[1:]] + [size]
    return [
        Run(start, end, at, tuple(a for a in arrivals if start < a[0] <= end))
        for (start, at), end in zip(starts, bounds, strict=True)
    ]
