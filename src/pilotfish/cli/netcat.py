"""`nc HOST PORT` inside `pilotfish exec`: the netcat of Istio's sample images (curl and sleep
carry busybox's), which Istio's TCP tasks run in a pod: `sh -c 'echo "port 9000" | nc tcp-echo
9000'` (Authorization for TCP traffic), `(date; sleep 1) | nc $INGRESS_HOST $TCP_INGRESS_PORT`
(TCP Traffic Shifting).

It copies stdin to the connection (half-closing it at end of input, as busybox's nc does when
its input ends) and the connection to stdout until the peer closes. Options: `-v` (say when
connected), `-w SECS` (connect and idle timeout), `-z` (only connect).

A plain socket cannot dial a service name in the (non-isolated) local mode: there is no cluster
DNS and no capture. So a mesh service's TCP port (`tcp-echo 9000`, `tcp-echo.foo`,
`tcp-echo.foo.svc.cluster.local`) is dialled where the pod's sidecar listens for it — the
listener a pod finds in `<NAME>_SERVICE_HOST`/`_PORT` — and so goes through the sidecar (mTLS,
authorization, routes) as a captured connection would in a pod. An HTTP port of a service is
refused with a message (reach it with curl, through the sidecar's HTTP proxy). Any other host
is dialled as given. In an isolated pod the name resolves as in a pod and nothing is rewritten.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pilotfish.state_files import STORE_FILE

if TYPE_CHECKING:
    from pilotfish.registry.types import Service

USAGE = "usage: nc [-v] [-z] [-w SECS] HOST PORT"


def _parse(argv: list[str]) -> tuple[dict[str, float | bool], str, int] | str:
    flags: dict[str, float | bool] = {"v": False, "z": False, "w": 0.0}
    args = list(argv)
    rest: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "-w" and args:
            flags["w"] = float(args.pop(0))
        elif arg.startswith("-w") and len(arg) > 2:
            flags["w"] = float(arg[2:])
        elif arg.startswith("-") and len(arg) > 1 and set(arg[1:]) <= {"v", "z", "n"}:
            flags.update({c: True for c in arg[1:] if c != "n"})
        elif arg.startswith("-"):
            return f"nc: option {arg} is not supported here\n{USAGE}"
        else:
            rest.append(arg)
    if len(rest) != 2 or not rest[1].isdigit():
        return USAGE
    return flags, rest[0], int(rest[1])


def mesh_address(host: str, port: int, state_dir: Path) -> tuple[str, int] | str | None:
    """Where this pod's sidecar listens for mesh service HOST:PORT (TCP); a message when it is
    an HTTP port; None when HOST is no service of the mesh (dial it as given)."""
    from pilotfish.agent.service_env import registry_services
    from pilotfish.cli.errors import UserError, running_mesh
    from pilotfish.registry.tcp_ports import is_tcp_port, outbound_tcp_ports

    ip, namespace = os.environ.get("INSTANCE_IP", ""), os.environ.get("POD_NAMESPACE", "default")
    try:
        info = running_mesh(state_dir)
    except UserError:
        return None
    proxy = next((p for p in info.get("proxies", {}).values() if p.get("ip") == ip), None)
    if proxy is None or proxy.get("netns"):
        return None  # not inside a local pod, or an isolated one: names resolve there
    services = registry_services(state_dir / STORE_FILE)
    service = next((s for s in services if is_named(s, host.rstrip("."), namespace)), None)
    if service is None:
        return None
    wanted = service.host or f"{service.name}.{service.namespace}"
    port_spec = next((p for p in service.ports if p.port == port), None)
    if port_spec is None:
        return f"nc: service {wanted} has no port {port}"
    if not is_tcp_port(port_spec):
        return (
            f"nc: {host}:{port} is an HTTP port: in local mode reach it through the sidecar's"
            " HTTP proxy (curl http://…), or run the mesh --isolated"
        )
    app_ports = [int(p) for p in proxy.get("app_ports", {})]
    for listener in outbound_tcp_ports(services, app_ports):
        if listener.service is service and listener.port.port == port:
            return ip, listener.listen_port
    return None


def is_named(service: Service, host: str, namespace: str) -> bool:
    """Whether HOST names SERVICE from a pod of NAMESPACE, as cluster DNS would resolve it."""
    if service.from_service_entry:
        return host == service.host
    full = f"{service.name}.{service.namespace}"
    names = {full, f"{full}.svc", f"{full}.svc.cluster.local"}
    return host in names or (host == service.name and service.namespace == namespace)


def _copy_stdin(sock: socket.socket) -> None:
    try:
        while data := os.read(sys.stdin.fileno(), 65536):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main(argv: list[str], state_dir: str) -> int:
    parsed = _parse(argv)
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 1
    flags, host, port = parsed
    target = mesh_address(host, port, Path(state_dir))
    if isinstance(target, str):
        print(target, file=sys.stderr)
        return 1
    address = target or (host, port)
    timeout = float(flags["w"]) or None
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        print(f"nc: can't connect to remote host ({host}:{port}): {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    if flags["v"]:
        print(f"{host} ({address[0]}:{address[1]}) open", file=sys.stderr)
    with sock:
        if flags["z"]:
            return 0
        threading.Thread(target=_copy_stdin, args=(sock,), daemon=True).start()
        try:
            while data := sock.recv(65536):
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
        except TimeoutError:
            return 1
        except OSError as exc:
            print(f"nc: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0
