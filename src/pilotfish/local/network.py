"""Addresses of a local mesh: each mesh owns a 127.A.0.0/16 block of loopback.

Like pods, every workload instance gets its own IP (127.A.1.1, 127.A.1.2, …) and uses Istio's
port numbers on it (15000 admin, 15001 outbound, 15021 health, 15090 stats, its service ports
for inbound). The control plane is 127.A.0.1, the ingress gateway 127.A.0.2. A is chosen from
the state directory's path, skipping blocks in use, and remembered in `network.json`, so a
mesh keeps its addresses across restarts and two meshes on one machine never share one.

An isolated mesh (`up --isolated`) uses the same block number for its pods' 10.A.0.0/16 (see
`pilotfish.capture.netns`): the control plane is 10.A.0.1 and the ingress gateway 10.A.0.2 (both
on the bridge), instances 10.A.1.1, …, and services' cluster IPs come from 10.A.240.0/21
(`pilotfish.registry.cluster_ips`).
A block is free when no other running mesh claims it, its control-plane ports on 127.A.0.1 are
free and no bridge `pfbrA` exists (unless it is this mesh's own, left by a killed `up`: it is
cleaned up and reused). The mesh's process holds its claim (an abstract Unix socket) while it
lives, so a mesh whose control plane is restarting, its ports free for a moment, keeps its
block, and two meshes starting at once cannot both take one.
"""

from __future__ import annotations

import json
import socket
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pilotfish.agent.processes import port_is_free
from pilotfish.capture.netns import MeshBridge
from pilotfish.state_files import write_atomically

FIRST_BLOCK, LAST_BLOCK = 16, 254
CP_XDS_PORT, CP_HTTP_PORT, CP_TLS_PORT = 15010, 15014, 15012
CP_CONTROLZ_PORT = 9876  # istiod's ControlZ (`pilotfish.controlplane.controlz`)


@dataclass
class MeshNetwork:
    block: int
    instances: dict[str, str] = field(default_factory=dict)  # instance name -> ip
    isolated: bool = False
    claim: socket.socket | None = field(default=None, repr=False, compare=False)  # held block

    @property
    def prefix(self) -> str:
        return f"10.{self.block}" if self.isolated else f"127.{self.block}"

    @property
    def control_plane_ip(self) -> str:
        return f"{self.prefix}.0.1"

    @property
    def service_cidr(self) -> str:
        """Where services' cluster IPs come from: only an isolated mesh's pods dial them."""
        return f"10.{self.block}.240.0/21" if self.isolated else ""

    @property
    def gateway_ip(self) -> str:
        """The ingress gateway's pod address (isolated: on the pods' bridge, `MeshBridge`, so
        its connections to pods leave from it, as a gateway pod's do)."""
        return f"{self.prefix}.0.2"

    def ip_for(self, instance: str) -> str:
        """A stable address per instance name; new names take the lowest free one."""
        if instance not in self.instances:
            used = set(self.instances.values())
            n = 0
            while True:
                candidate = f"{self.prefix}.{1 + n // 250}.{1 + n % 250}"
                if candidate not in used:
                    break
                n += 1
            self.instances[instance] = candidate
        return self.instances[instance]

    def save(self, path: Path) -> None:
        data = {"block": self.block, "instances": self.instances, "isolated": self.isolated}
        write_atomically(path, json.dumps(data, indent=1))


_HELD: dict[int, tuple[str, socket.socket]] = {}  # this process's claims: block -> owner


def _claimed(block: int, owner: str) -> tuple[bool, socket.socket | None]:
    """(usable, the claim): a block is claimed by binding the abstract Unix socket
    `@pilotfish-block-A`, which the kernel releases when its process dies and which leaves no
    file behind. A block this process already holds for the same owner is usable again."""
    held = _HELD.get(block)
    if held and held[1].fileno() != -1:
        return held[0] == owner, None
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0pilotfish-block-{block}")
    except OSError:
        claim.close()
        return False, None
    _HELD[block] = (owner, claim)
    return True, claim


def _release(claim: socket.socket | None) -> None:
    if claim is not None:
        claim.close()


def block_is_free(block: int, owner: str = "") -> bool:
    ip = f"127.{block}.0.1"
    bridge = MeshBridge(block, owner)
    if bridge.exists() and not (owner and bridge.ours()):
        return False
    return port_is_free(ip, CP_XDS_PORT) and port_is_free(ip, CP_HTTP_PORT)


def load_or_choose(state_dir: Path, isolated: bool = False) -> MeshNetwork:
    path = state_dir / "network.json"
    owner = str(state_dir.resolve())
    if path.exists():
        try:
            data = json.loads(path.read_text())
            network = MeshNetwork(int(data["block"]), dict(data.get("instances", {})))
            network.isolated = bool(data.get("isolated", False))
            if network.isolated != isolated:  # other addresses: start afresh, same block
                network = MeshNetwork(network.block, isolated=isolated)
            usable, network.claim = _claimed(network.block, owner)
            if usable and block_is_free(network.block, owner):
                return network
            _release(network.claim)
        except (ValueError, KeyError, TypeError):
            pass
    span = LAST_BLOCK - FIRST_BLOCK + 1
    start = zlib.crc32(str(state_dir.resolve()).encode()) % span
    for i in range(span):
        block = FIRST_BLOCK + (start + i) % span
        usable, claim = _claimed(block, owner)
        if usable and block_is_free(block):
            network = MeshNetwork(block, isolated=isolated, claim=claim)
            network.save(path)
            return network
        _release(claim)
    raise OSError("no free 127.x.0.0/16 block for a mesh on this machine")
