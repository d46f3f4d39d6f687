"""`pilotfish down` after the `up --isolated` that made the pods was killed outright (SIGKILL:
no clean-up ran): it finds the mesh's bridge by its alias and removes every pod namespace, the
processes in them, their capture and service chains, hosts folders, links and the bridge, and
the host is as before (its own iptables included). Root only; no mesh is started: a pod is made
with the mesh's own code, as the killed `up` would have left it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.e2e.test_isolated_pods import _without_other_meshes, host_state

from pilotfish.capture import netns
from pilotfish.capture.rules import nat_rules, settings_for
from pilotfish.capture.services import ServiceRoute, service_rules
from pilotfish.local.client import pid_alive
from pilotfish.local.network import load_or_choose

pytestmark = [
    pytest.mark.host_network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("iptables-restore") is None,
        reason="needs root and iptables (network namespaces); CI runs as root",
    ),
]


def test_down_removes_what_a_killed_up_left(tmp_path: Path) -> None:
    before = host_state()
    block = load_or_choose(tmp_path, isolated=True).block
    bridge = netns.MeshBridge(block, str(tmp_path.resolve()))
    bridge.create()
    ip = f"10.{block}.1.2"
    route = ServiceRoute("default/x:http", f"10.{block}.240.1", 80, ((f"10.{block}.1.3", 8080),))
    name = bridge.netns_name("x-0.default")
    services = service_rules((route,), ("OUTPUT",), exclude=ip)
    netns.add_pod(bridge, name, ip, "127.0.0.1\tlocalhost\n", nat_rules(settings_for({})), services)
    child = subprocess.Popen(netns.in_netns(name, ["sleep", "300"]), start_new_session=True)
    try:
        saved = subprocess.run(
            netns.in_netns(name, ["iptables-save", "-t", "nat"]), capture_output=True, text=True
        ).stdout
        assert "-A OUTPUT -j KUBE-SERVICES" in saved and "ISTIO_OUTPUT" in saved
        down = subprocess.run(
            [sys.executable, "-m", "pilotfish", "down"],
            env={**os.environ, "PILOTFISH_HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert "removed the pods and bridge" in down.stdout, down.stdout
        deadline = time.monotonic() + 10
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is not None and not pid_alive(child.pid)
        assert _without_other_meshes(host_state(), block) == _without_other_meshes(before, block)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        bridge.remove()
