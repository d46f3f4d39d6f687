"""`pid_alive`: what `up` and every CLI command use to tell a running mesh from a stale file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from pilotfish.local.client import pid_alive


def test_a_killed_process_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # not reaped yet: the pid still exists as a zombie, yet no mesh runs under it
        assert os.path.exists(f"/proc/{child.pid}")
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)
