"""Network-namespace pods for the isolated local mode, and the commands that build them.

A mesh owns one Linux bridge `pfbr<A>` holding `10.A.0.1/16` and the ingress gateway's
`10.A.0.2` (A: the mesh's block, chosen as for the 127.A.0.0/16 loopback block; refused when
10.A.0.0/16 overlaps any route or address of the host). The bridge is the only thing added to
the host: no default route, no NAT, no forwarding (the pods have no route off 10.A.0.0/16, and
nothing enables `ip_forward`). The control plane listens on the bridge's address, which is how
pods reach it; the ingress gateway (on the host too) makes its connections to pods from its own.

Each pod is a namespace `pf<A>-<name>.<namespace>` with its own loopback and a veth pair: the
host end `pf<A>h<x>x<y>` on the bridge, the pod end renamed `eth0` with `10.A.x.y/16`. Its
`/etc/hosts` is `/etc/netns/<ns>/hosts` (what `ip netns exec` shows its processes), its
`/etc/resolv.conf` names the bridge's address as its cluster DNS (`write_resolv_conf`); its nat
table gets Istio's rules (`rules.nat_rules`) unless it has no sidecar, then kube-proxy's
service chains (`services.service_rules`), which `update_services` replaces as endpoints change.

The bridge's alias records the state directory that made it, so a later `up`/`down` of the same
mesh finds and removes what a killed `up` left behind (namespaces, their processes, the bridge,
the hosts folders), and never touches another mesh's. Every command runs as root; `require_root`
says so clearly first. `connect_in` opens a TCP connection from inside a pod's namespace (what
reaches a pod's own `localhost`, e.g. Envoy's admin, from the host).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pilotfish.capture.rules import CaptureError

NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/run/netns")
CLONE_NEWNET = 0x40000000


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise CaptureError(
            f"{what} needs root (network namespaces, a bridge and iptables rules); "
            "run it with sudo, or without --isolated"
        )


def run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    """Run a command; raises `CaptureError` with its stderr when it fails and `check`."""
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CaptureError(f"{' '.join(argv)}: {exc}") from None
    if check and done.returncode != 0:
        raise CaptureError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def apply_rules(rules: str, netns: str | None = None, noflush: bool = False) -> None:
    """Load `rules` (iptables-restore text) into a namespace's tables (or the current one);
    `noflush`: only the chains it declares are replaced, the rest of each table stays."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    run([*prefix, "iptables-restore", *(["--noflush"] if noflush else [])], stdin=rules)


@dataclass(frozen=True)
class MeshBridge:
    block: int
    owner: str  # the state directory, recorded in the bridge's alias

    @property
    def name(self) -> str:
        return f"pfbr{self.block}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.{self.block}.0.0/16")

    @property
    def address(self) -> str:
        return f"10.{self.block}.0.1"

    @property
    def gateway_address(self) -> str:
        """The ingress gateway's (a host process, as the control plane): its connections to
        pods leave from it (`local.network.MeshNetwork.gateway_ip`)."""
        return f"10.{self.block}.0.2"

    @property
    def netns_prefix(self) -> str:
        return f"pf{self.block}-"

    @property
    def alias(self) -> str:
        return f"pilotfish:{self.owner}"

    def netns_name(self, pod: str) -> str:
        return f"{self.netns_prefix}{pod}"

    def exists(self) -> bool:
        return Path(f"/sys/class/net/{self.name}").exists()

    def ours(self) -> bool:
        try:
            found = Path(f"/sys/class/net/{self.name}/ifalias").read_text().strip()
        except OSError:
            return False
        return found == self.alias

    def overlap(self) -> str | None:
        """A host route or address overlapping 10.A.0.0/16 (other than our own bridge's)."""
        for row in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]) or "[]"):
            dst, dev = str(row.get("dst", "")), str(row.get("dev", ""))
            if dst in ("", "default") or dev == self.name or row.get("type") == "broadcast":
                continue
            try:
                net = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if net.version == 4 and net.overlaps(self.network):
                return f"route {dst} dev {dev}"
        return None

    def create(self) -> None:
        if self.exists():
            if not self.ours():
                raise CaptureError(f"bridge {self.name} belongs to another mesh")
            self.remove()
        problem = self.overlap()
        if problem is not None:
            raise CaptureError(f"pod range {self.network} overlaps the host's {problem}")
        run(["ip", "link", "add", self.name, "type", "bridge"])
        run(["ip", "link", "set", self.name, "alias", self.alias])
        run(["ip", "addr", "add", f"{self.address}/16", "dev", self.name])
        run(["ip", "addr", "add", f"{self.gateway_address}/32", "dev", self.name])
        run(["ip", "link", "set", self.name, "up"])

    def pods(self) -> list[str]:
        """Names of this mesh's pod namespaces that exist."""
        if not NETNS_RUN.is_dir():
            return []
        return sorted(p.name for p in NETNS_RUN.iterdir() if p.name.startswith(self.netns_prefix))

    def remove(self) -> None:
        """Every namespace (and its processes), hosts folder and the bridge of this mesh."""
        for netns in self.pods():
            remove_pod(netns)
        if self.exists():
            for link in json.loads(run(["ip", "-j", "link", "show", "master", self.name]) or "[]"):
                run(["ip", "link", "del", str(link["ifname"])], check=False)
        if NETNS_ETC.is_dir():
            for folder in NETNS_ETC.iterdir():
                if folder.name.startswith(self.netns_prefix):
                    shutil.rmtree(folder, ignore_errors=True)
        if self.exists():
            run(["ip", "link", "del", self.name], check=False)


def host_link(block: int, ip: str) -> str:
    _, _, x, y = ip.split(".")
    return f"pf{block}h{x}x{y}"


def add_pod(
    bridge: MeshBridge,
    netns: str,
    ip: str,
    hosts: str,
    rules: str | None,
    services: str | None = None,
) -> None:
    """A pod namespace on the bridge with address `ip`, its /etc/hosts, (with `rules`) Istio's
    capture rules, then (with `services`: `services.service_rules` with its hooks) kube-proxy's
    chains, after Istio's. A VM's namespace has no kube-proxy."""
    if Path(NETNS_RUN / netns).exists():
        remove_pod(netns)
    write_hosts(netns, hosts)
    write_resolv_conf(netns, bridge.address)
    host = host_link(bridge.block, ip)
    peer = host.replace("h", "p", 1)
    run(["ip", "netns", "add", netns])
    try:
        run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", netns])
        run(["ip", "link", "set", host, "master", bridge.name])
        run(["ip", "link", "set", host, "up"])
        inside = ["ip", "netns", "exec", netns]
        run([*inside, "ip", "link", "set", "lo", "up"])
        run([*inside, "ip", "link", "set", peer, "name", "eth0"])
        run([*inside, "ip", "addr", "add", f"{ip}/16", "dev", "eth0"])
        run([*inside, "ip", "link", "set", "eth0", "up"])
        # as a pod's default route: a connection to any address (a ServiceEntry's, one
        # allocated from 240.240.0.0/16) is routed, so the capture rules see it; on-link, with
        # no gateway, what is not captured reaches only the bridge's hosts
        run([*inside, "ip", "route", "add", "default", "dev", "eth0"])
        if rules is not None:
            apply_rules(rules, netns)
        if services is not None:
            apply_rules(services, netns, noflush=True)
    except CaptureError:
        remove_pod(netns)
        raise


def update_services(netns: str, services: str) -> None:
    """Replace the pod's KUBE-SERVICES chains (`services.service_rules` without hooks) in one
    `iptables-restore --noflush` commit."""
    apply_rules(services, netns, noflush=True)


def write_hosts(netns: str, text: str) -> None:
    """The pod's /etc/hosts, rewritten in place (a running pod sees the new names: `ip netns
    exec` bind-mounts this very file)."""
    folder = NETNS_ETC / netns
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hosts"
    if path.exists() and path.read_text() == text:
        return
    with open(path, "a+") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text)


def write_resolv_conf(netns: str, nameserver: str) -> None:
    """The pod's /etc/resolv.conf: its cluster DNS is the bridge's address, which answers at
    once that nothing serves DNS there (the host's own nameserver is off the pods' network: a
    query to it went unanswered, so a lookup the app makes before it serves, such as Python's
    `getfqdn` of its bind address, held its start for the resolver's timeouts)."""
    folder = NETNS_ETC / netns
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "resolv.conf").write_text(f"nameserver {nameserver}\n")


def remove_pod(netns: str) -> None:
    """Kill what runs in the namespace, then delete it (its veth pair goes with it)."""
    for pid in run(["ip", "netns", "pids", netns], check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    run(["ip", "netns", "del", netns], check=False)
    shutil.rmtree(NETNS_ETC / netns, ignore_errors=True)


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """`argv` run inside the pod's namespace (and with its /etc/hosts)."""
    return ["ip", "netns", "exec", netns, *argv]


def connect_in(netns: str, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to host:port made from inside the namespace `netns` (root). A socket
    belongs to the namespace it was created in; it is created on a short-lived thread that
    alone enters the namespace, so no other thread ever changes namespace."""
    found: list[socket.socket | OSError] = []

    def work() -> None:
        try:
            found.append(_connect_from(netns, host, port, timeout))
        except OSError as exc:
            found.append(exc)

    thread = threading.Thread(target=work, name=f"connect-in-{netns}", daemon=True)
    thread.start()
    thread.join()
    result = found[0]
    if isinstance(result, OSError):
        raise result
    return result


def _connect_from(netns: str, host: str, port: int, timeout: float) -> socket.socket:
    libc = ctypes.CDLL(None, use_errno=True)
    target = os.open(NETNS_RUN / netns, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"cannot enter network namespace {netns}: {os.strerror(code)}")
        return socket.create_connection((host, port), timeout=timeout)
    finally:
        os.close(target)  # the thread ends here: nothing else runs in the namespace
