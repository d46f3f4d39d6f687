"""`processes.spawn`: a child dies with the process that started it, runs as the group asked for,
and is started without forking the interpreter (a fork of a process running gRPC ran gRPC's
at-fork handlers in the child and, now and then, aborted it before it exec'd Envoy)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PARENT = """
import asyncio, os, sys
from pathlib import Path
from pilotfish.agent import processes

forks = []
os.register_at_fork(before=lambda: forks.append(1))

async def main() -> None:
    group = int(sys.argv[3]) if len(sys.argv) > 3 else None
    child = await processes.spawn(sys.argv[2].split(), {}, Path(sys.argv[1]), group=group)
    print(child.pid, len(forks), flush=True)
    if sys.argv[2].startswith("sleep"):
        await asyncio.sleep(3600)
    else:
        await child.wait()

asyncio.run(main())
"""


def _parent(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "child.log"), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_the_child_is_started_without_forking_the_interpreter(tmp_path: Path) -> None:
    parent = _parent(tmp_path, "true")
    out, _ = parent.communicate(timeout=30)
    assert parent.returncode == 0
    assert out.split()[1] == "0", "spawn forked the interpreter (its at-fork hooks ran)"


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    parent = _parent(tmp_path, "sleep 3600")
    assert parent.stdout is not None
    child = int(parent.stdout.readline().split()[0])
    assert Path(f"/proc/{child}").exists()
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived the process that started it"


def test_the_child_runs_as_the_group_asked_for(tmp_path: Path) -> None:
    parent = _parent(tmp_path, "id -g", "1337")
    parent.communicate(timeout=30)
    assert (tmp_path / "child.log").read_text().strip() == "1337"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie until someone reaps it: already dead
