"""An isolated pod's resolver answers at once: its /etc/resolv.conf names the bridge's address
(the pods' cluster DNS, where nothing serves DNS), so a lookup the pod's app makes is refused
there rather than left unanswered by a nameserver off the pods' network. Python's HTTP servers
look up their bind address's name before serving (`socket.getfqdn`): with the host's
nameserver, every isolated pod's start waited for the resolver's timeouts. Root only; no mesh
is started: a pod is made with the mesh's own code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pilotfish.capture import netns
from pilotfish.local.network import load_or_choose

pytestmark = [
    pytest.mark.host_network,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("iptables-restore") is None,
        reason="needs root and iptables (network namespaces); CI runs as root",
    ),
]

LOOKUP = "import socket, sys\ntry:\n    socket.gethostbyaddr('0.0.0.0')\nexcept OSError as e:\n" \
    "    print(type(e).__name__)\nprint(socket.getfqdn('0.0.0.0'))"  # fmt: skip


def test_a_pods_lookup_is_refused_by_its_cluster_dns_not_left_unanswered(tmp_path: Path) -> None:
    block = load_or_choose(tmp_path, isolated=True).block
    bridge = netns.MeshBridge(block, str(tmp_path.resolve()))
    bridge.create()
    name = bridge.netns_name("x-0.default")
    try:
        netns.add_pod(bridge, name, f"10.{block}.1.2", "127.0.0.1\tlocalhost\n", None)
        conf = (netns.NETNS_ETC / name / "resolv.conf").read_text()
        assert conf == f"nameserver {bridge.address}\n"
        seen = subprocess.run(
            netns.in_netns(name, ["cat", "/etc/resolv.conf"]), capture_output=True, text=True
        ).stdout
        assert seen == conf  # what the pod's processes read
        # glibc's default: 5 s a try, two tries; a refusal comes back at once. 3 s is far from
        # both: the bound tells an answered lookup from an unanswered one, it times nothing.
        done = subprocess.run(
            netns.in_netns(name, [sys.executable, "-c", LOOKUP]),
            capture_output=True, text=True, timeout=3,
        )  # fmt: skip
        assert done.returncode == 0 and done.stdout.split()[0] == "herror", done
    finally:
        netns.remove_pod(name)
        bridge.remove()
    assert not (netns.NETNS_ETC / name).exists()
