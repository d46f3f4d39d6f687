"""`pilotfish up` in the foreground: Ctrl-C stops everything it started; a killed `up` takes its
children (control plane, Envoys, apps) with it. No orphans either way."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.meshctl import ROOT, LocalMesh


def _start_foreground(mesh: LocalMesh) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pilotfish", "up", "samples/httpbin",
         "--ingress-address", mesh.ingress],
        env=mesh.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_ready(mesh: LocalMesh, proc: subprocess.Popen[str]) -> None:
    mesh.wait_for(
        lambda: proc.poll() is None and mesh.info.get("ready") is True, timeout=60, what="ready"
    )


def _wait_gone(mesh: LocalMesh, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = mesh.processes()
        if not left:
            return []
        time.sleep(0.1)
    return mesh.processes()


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    mesh = LocalMesh(tmp_path / "home", "samples/httpbin")
    proc = _start_foreground(mesh)
    try:
        _wait_ready(mesh, proc)
        assert len(mesh.processes()) >= 5  # control plane, 2 Envoys, httpbin
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "pilotfish mesh is up" in out and "mesh stopped" in out
    assert _wait_gone(mesh) == []
    assert not (mesh.home / "run" / "mesh.json").exists()


def test_a_killed_launcher_leaves_no_orphans(tmp_path: Path) -> None:
    mesh = LocalMesh(tmp_path / "home", "samples/httpbin")
    proc = _start_foreground(mesh)
    try:
        _wait_ready(mesh, proc)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_gone(mesh) == []
    # The state survives; the stale mesh.json is recognised as not running.
    result = mesh.pilotfish("proxy-status")
    assert result.returncode == 1 and "is not running" in result.stderr, result.stderr
