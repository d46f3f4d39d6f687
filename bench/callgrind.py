"""Instructions an Envoy executes, counted by callgrind (Debian package valgrind): a figure that,
unlike CPU time, hardly moves with what else the machine runs. Envoy is ~50x slower under it, so
it suits a few hundred requests, not a load test.

An Envoy started with `command(out_file)` counts nothing until `on(pid)`; each `dump(pid, ...)`
returns the instructions it executed since the previous dump (callgrind zeroes its counters at
every dump; its dumps are files `<out_file>.<n>`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path


def available() -> bool:
    return shutil.which("callgrind_control") is not None


def command(out_file: Path) -> list[str]:
    """The prefix that runs a program under callgrind, instrumentation off until `on`."""
    out = f"--callgrind-out-file={out_file}"
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", out]


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=True)


def on(pid: int) -> None:
    """Start counting: the next `dump` counts from here."""
    _control(pid, "-i", "on")


def dump(pid: int, out_file: Path, timeout: float = 60) -> int:
    """The instructions the process executed since its previous dump (or since `on`)."""
    before = set(out_file.parent.glob(out_file.name + ".*"))
    _control(pid, "-d")
    deadline = time.monotonic() + timeout
    while True:
        for path in set(out_file.parent.glob(out_file.name + ".*")) - before:
            total = _totals(path)
            if total is not None:
                path.unlink()
                return total
        if time.monotonic() > deadline:
            raise TimeoutError(f"callgrind wrote no dump for {pid}")
        time.sleep(0.05)


def _totals(path: Path) -> int | None:
    """A dump's `totals:` (None while callgrind is still writing it)."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    return None
