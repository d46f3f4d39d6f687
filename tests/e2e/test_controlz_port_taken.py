"""ControlZ is introspection only: a control plane whose 9876 is taken still starts and serves
(the mesh must not depend on it), and says so in its log. A real control plane process on a
random loopback address; the port held by the test's own socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.l4kit import random_loopback

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _bound(address: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.listen()
    return sock


def test_a_taken_controlz_port_leaves_the_control_plane_serving(tmp_path: Path) -> None:
    address = random_loopback()
    with _bound(address) as taken, _bound(address) as api, _bound(address) as xds:
        http_port, xds_port = api.getsockname()[1], xds.getsockname()[1]
        api.close()
        xds.close()  # free again for the control plane (a random loopback: no one else's)
        argv = [sys.executable, "-m", "pilotfish.controlplane", "--state-dir", str(tmp_path),
                "--address", address, "--xds-port", str(xds_port), "--http-port", str(http_port),
                "--ctrlz-port", str(taken.getsockname()[1])]  # fmt: skip
        log = tmp_path / "cp.log"
        with log.open("w") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline, ready = time.monotonic() + 30, False
            while time.monotonic() < deadline and not ready:
                assert process.poll() is None, log.read_text()
                try:
                    with _DIRECT.open(f"http://{address}:{http_port}/ready", timeout=5) as resp:
                        ready = resp.status == 200
                except OSError:
                    time.sleep(0.1)
            assert ready, log.read_text()
            assert f"ControlZ not served on {address}:{taken.getsockname()[1]}" in log.read_text()
        finally:
            process.terminate()
            process.wait(10)
