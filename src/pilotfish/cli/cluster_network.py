"""What cluster DNS and kube-proxy give a pod without a sidecar, for `pilotfish exec` in the
(non-isolated) local mode.

Istio's "Mutual TLS Migration" and "Authentication Policy" tasks run sleep in `legacy` with no
sidecar and call `curl http://httpbin.foo:8000/ip` from it. Local mode has no cluster DNS and
such a pod no sidecar to send its HTTP through, so the name could not resolve. While the command
runs, exec points the pod's HTTP(S)_PROXY at a forwarder of its own doing what kube-proxy does:
the name and service port resolve to one ready endpoint of the service (its pod's address and the
target port, where that pod's sidecar listens, or its app when it has none) and the bytes go
there from the pod's own address, unchanged and in plaintext. So a STRICT server refuses it (the
reset connection is passed on: curl's 000, exit 56, as in the tasks) and a PERMISSIVE one sees
a client with no identity. The one change is the request line: its absolute form (what a client
sends a proxy) becomes the origin form a client without one sends, and `Proxy-Connection` goes.
`CONNECT host:port` (https://) is relayed the same way. A host that is no service is dialled as
given. Nothing of this runs for a pod with a sidecar, nor in an isolated mesh. `service_endpoint`
is kube-proxy's choice alone, also used by `cli.openssl_shim`.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilotfish.agent.service_env import registry_services
from pilotfish.cli.netcat import is_named
from pilotfish.state_files import STORE_FILE

if TYPE_CHECKING:
    from pilotfish.registry.types import Service

HEAD_LIMIT = 65536
CONNECT_TIMEOUT = 10.0


class ClusterNetwork:
    """A forwarder on the pod's address, for one exec; `close()` stops it."""

    def __init__(self, info: dict[str, Any], proxy: dict[str, Any]) -> None:
        self.ip, self.namespace = str(proxy["ip"]), str(proxy["namespace"])
        state_dir = Path(info["state_dir"])
        self.services = registry_services(state_dir / STORE_FILE)
        self.mesh_file = state_dir / "run" / "mesh.json"
        self.listener = socket.create_server((self.ip, 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """Where kube-proxy would send HOST:PORT (`service_endpoint`)."""
        return service_endpoint(self.services, self.mesh_file, self.namespace, host, port)

    def _relay(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            head = _read_head(client)
            line, _, rest = head.partition(b"\r\n")
            parts = line.decode("latin-1").split(" ")
            if len(parts) != 3:
                return
            method, target, version = parts
            connect = method.upper() == "CONNECT"
            if connect:
                host, _, port_text = target.rpartition(":")
                origin = b""
            else:
                url = urllib.parse.urlsplit(target)
                host, port_text = url.hostname or "", str(url.port or 80)
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                origin = f"{method} {path} {version}\r\n".encode("latin-1") + _without_proxy(rest)
            try:
                address = self.endpoint(host.strip("[]").rstrip("."), int(port_text))
                upstream = socket.create_connection(
                    address, timeout=CONNECT_TIMEOUT, source_address=(self.ip, 0)
                )
            except (OSError, ValueError):
                _reset(client)  # as a refused or unresolvable connection ends for the client
                return
            stack.enter_context(upstream)
            upstream.settimeout(None)
            if connect:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(origin)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join()


def service_endpoint(
    services: Sequence[Service], mesh_file: Path, namespace: str, host: str, port: int
) -> tuple[str, int]:
    """Where kube-proxy would send HOST:PORT dialled from a pod of NAMESPACE: a ready pod of
    that service at its target port (where its sidecar listens, or its app when it has none);
    HOST:PORT itself when it names no service of the mesh (or a ServiceEntry's host)."""
    service = next((s for s in services if is_named(s, host, namespace)), None)
    spec = service.port(port) if service is not None else None
    if service is None or spec is None or service.from_service_entry:
        return host, port
    try:
        proxies = json.loads(mesh_file.read_text()).get("proxies", {}).values()
    except (OSError, ValueError):
        proxies = []
    wanted = dict(service.selector)
    ready = [
        str(p["ip"])
        for p in proxies
        if p.get("namespace") == service.namespace
        and p.get("ready")
        and p.get("type") == "sidecar"
        and wanted.items() <= dict(p.get("labels") or {}).items()
    ]
    if not ready:
        raise ConnectionRefusedError(f"service {host} has no ready endpoint")
    return random.choice(ready), spec.target_port


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < HEAD_LIMIT:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _without_proxy(rest: bytes) -> bytes:
    """The header lines (and any body bytes after them) without `Proxy-Connection`."""
    headers, sep, body = rest.partition(b"\r\n\r\n")
    kept = [h for h in headers.split(b"\r\n") if not h.lower().startswith(b"proxy-connection:")]
    return b"\r\n".join(kept) + sep + body


def _reset(sock: socket.socket) -> None:
    """Make the owner's close a TCP reset (what the client sees of a refused or reset
    connection), and wake the thread reading it (a socket read elsewhere cannot be closed)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until the source ends: its end half-closes the sink, its reset resets it."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except ConnectionResetError:
        _reset(sink)
        return
    except OSError:
        return
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
