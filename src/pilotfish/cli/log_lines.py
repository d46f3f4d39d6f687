"""The lines `kubectl logs` prints of one container, as the kubelet serves them: the current run
of the container (after a restart only the new one's output), or with `--previous` the run
before it; then the last `--tail` lines, then those newer than `--since`, each after its
RFC 3339 arrival time with `--timestamps` and after `[pod/NAME/CONTAINER] ` with `--prefix`.

Times and runs come from the agent's `<log>.times` (`agent.container_log`). The control plane's
own log (the `istiod` pod) has none: its lines are stamped by its logger (`2026-12-02
11:58:29,395 …`, local time), each line without a stamp taking the one before it.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pilotfish.agent.container_log import read_runs

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([^\d.]*)")
_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


class LogError(Exception):
    """kubectl's error line (printed as is)."""


@dataclass(frozen=True)
class LogOptions:
    tail: int = -1  # all
    since: float | None = None  # seconds
    timestamps: bool = False
    previous: bool = False
    prefix: bool = False


def parse_duration(text: str, flag: str = "--since") -> float:
    """A Go duration (`10s`, `5m`, `1h30m`, `1.5h`) in seconds. Raises LogError as kubectl's
    flag parsing words it."""
    pos, total = 0, 0.0
    while pos < len(text) and text:
        match = _TERM.match(text, pos)
        if match is None:
            raise LogError(
                f'error: invalid argument "{text}" for "{flag}" flag: time: invalid duration'
                f' "{text}"'
            )
        if match.group(2) not in _UNITS:
            why = (
                f'unknown unit "{match.group(2)}" in duration'
                if match.group(2)
                else "missing unit in duration"
            )
            raise LogError(
                f'error: invalid argument "{text}" for "{flag}" flag: time: {why} "{text}"'
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise LogError(f'error: invalid argument "" for "{flag}" flag: time: invalid duration ""')
    return total


def rfc3339nano(ns: int) -> str:
    """Go's RFC3339Nano in UTC: nanoseconds with trailing zeros dropped."""
    seconds, rest = divmod(ns, 1_000_000_000)
    when = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{rest:09d}".rstrip("0")
    return f"{when}.{fraction}Z" if fraction else f"{when}Z"


def _lines(
    path: Path, pod: str, container: str, stamped_by_logger: bool, previous: bool
) -> list[tuple[int | None, bytes]]:
    text = path.read_bytes()
    runs = read_runs(path)
    if previous:
        if runs is None or len(runs) < 2:
            raise LogError(
                f'Error from server (BadRequest): previous terminated container "{container}"'
                f' in pod "{pod}" not found'
            )
        return list(runs[-2].lines(text))
    if runs is not None:
        return list(runs[-1].lines(text))
    lines = text.splitlines(keepends=True)
    return _logger_stamps(lines) if stamped_by_logger else [(None, line) for line in lines]


def _logger_stamps(lines: list[bytes]) -> list[tuple[int | None, bytes]]:
    found: list[tuple[int | None, bytes]] = []
    last: int | None = None
    for line in lines:
        match = _STAMP.match(line)
        if match is not None:
            local = time.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S")
            last = int(time.mktime(local)) * 1_000_000_000 + int(match.group(2)) * 1_000_000
        found.append((last, line))
    first = next((at for at, _ in found if at is not None), None)  # lines before the first stamp
    return [(first if at is None else at, line) for at, line in found]


def render(
    path: Path, pod: str, container: str, options: LogOptions, stamped_by_logger: bool = False
) -> bytes:
    """What `kubectl logs` prints for one container. Raises LogError."""
    lines = _lines(path, pod, container, stamped_by_logger, options.previous)
    if options.tail >= 0:
        lines = lines[len(lines) - options.tail :] if options.tail else []
    if (options.since is not None or options.timestamps) and any(a is None for a, _ in lines):
        raise LogError(f"error: {pod}: the log of {container} was kept without times")
    if options.since is not None:
        oldest = time.time_ns() - int(options.since * 1e9)
        lines = [(at, line) for at, line in lines if at is not None and at >= oldest]
    out = []
    head = f"[pod/{pod}/{container}] ".encode() if options.prefix else b""
    for at, line in lines:
        if options.timestamps:
            line = rfc3339nano(at or 0).encode() + b" " + line
        out.append(head + line)
    return b"".join(out)
