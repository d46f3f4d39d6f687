"""Where the apps of a local mesh's sidecars listen: 127.0.0.1 (the sidecar's inbound listener has
the instance's own address and the container port), each on a port of the mesh's own range.

Each address block (`network`, 16..254) owns `PER_BLOCK` consecutive ports below both the
kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, from 32768 by default) and
31400 (Istio's TCP ingress port, which a mesh whose gateway is on 127.0.0.1 binds there): with
the defaults, block 16 has 16104-16167 and block 254 has 31336-31399. A port chosen for an app
that has not bound it yet (its process starts a second or more later under load) can then not
be given to anyone else: no other mesh picks from this range, this mesh gives each port to one
instance, and the kernel gives sockets binding port 0 or connecting only ephemeral ports.

Before, the port came from binding port 0 and closing the socket: the kernel draws among ~14,000
odd ports, so two apps of one six-app mesh drew the same port in 17 of 20,000 starts (measured),
and another mesh or any port-0 socket could take one in the gap. The app that lost kept
restarting, and its sidecar, its readiness check passing on the winner's socket, sent its
traffic to the other app (CI on 987b075: Bookinfo's /productpage answered by a JSON 404).

A port is taken when an instance of the mesh has it or when any socket still uses it (a listener,
a leftover app, a connection in TIME_WAIT); ports are handed out round robin, so a port comes
back as late as possible. When the range is full, or the machine's ephemeral range leaves no
room below it, the kernel's choice is used again, with a warning.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from pilotfish.agent.processes import free_port
from pilotfish.local.network import FIRST_BLOCK, LAST_BLOCK

log = logging.getLogger("pilotfish.up")

HOST = "127.0.0.1"
PER_BLOCK = 64
MIN_PER_BLOCK = 8
ISTIO_TCP_INGRESS_PORT = 31400
FLOOR = 15100  # above Istio's own ports (15000-15090)
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_NEXT: dict[int, int] = {}  # block -> offset to try first


def ephemeral_start() -> int:
    """The first port the kernel hands out for port 0 and outgoing connections."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def block_ports(block: int, ephemeral: int) -> range:
    """The app ports of address block `block`; empty when fewer than `MIN_PER_BLOCK` fit."""
    top = min(ISTIO_TCP_INGRESS_PORT, ephemeral)
    size = min(PER_BLOCK, max(0, top - FLOOR) // (LAST_BLOCK - FIRST_BLOCK + 1))
    if size < MIN_PER_BLOCK or not FIRST_BLOCK <= block <= LAST_BLOCK:
        return range(0)
    start = top - (LAST_BLOCK - block + 1) * size
    return range(start, start + size)


def unused(port: int) -> bool:
    """No socket of this machine uses `port` on 127.0.0.1 (nor on a wildcard address): a bind
    without SO_REUSEADDR fails even on a connection in TIME_WAIT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def app_port(block: int, taken: set[int]) -> int:
    """A port for an app of the mesh with address block `block`, added to `taken` (the ports
    the mesh's instances have)."""
    ports = block_ports(block, ephemeral_start())
    first = _NEXT.get(block, 0)
    for i in range(len(ports)):
        offset = (first + i) % len(ports)
        port = ports[offset]
        if port not in taken and unused(port):
            _NEXT[block] = offset + 1
            taken.add(port)
            return port
    port = free_port(HOST)
    where = f"{ports.start}-{ports.stop - 1} full" if ports else "no room below the ephemeral range"
    log.warning(
        "app ports of this mesh: %s; port %d from the kernel, which another program may take "
        "before the app binds it", where, port,
    )  # fmt: skip
    taken.add(port)
    return port
