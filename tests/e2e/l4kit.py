"""Helpers for the L4/TLS/external end-to-end tests: raw TCP exchanges, loopback servers standing
in for external services (HTTP, HTTPS, TCP), and throwaway certificates.

Every server binds a random 127.x.y.z address on port 0 and is stopped by its context manager.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import random
import socket
import socketserver
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from pilotfish.telemetry.exchange import PEER_HEADER


def random_loopback() -> str:
    return f"127.{random.randint(200, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"


def half_close_exchanges(
    host: str, port: int, count: int, wait: bool = False, pause: Callable[[], object] | None = None
) -> Counter[str]:
    """`count` clients that each send one line (`port PORT`) and half-close at once, as
    `echo "port PORT" | nc HOST PORT` does (or, with `wait`, read the answer first): what came
    back, each answer's line, `reset`, or `` (closed without an answer). With `pause`, the
    line (and FIN) are sent within `with pause():`, e.g. while the server is stopped."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        with contextlib.ExitStack() as paused:
            if pause is not None:
                paused.enter_context(cast("contextlib.AbstractContextManager[object]", pause()))
            conn = socket.create_connection((host, port), timeout=10)
            conn.sendall(f"port {port}\n".encode())
            if not wait:
                conn.shutdown(socket.SHUT_WR)
        try:
            with conn, conn.makefile("rb") as answer:
                seen[answer.readline().decode().strip()] += 1
        except ConnectionResetError:
            seen["reset"] += 1
    return seen


def tcp_exchange(host: str, port: int, message: str, timeout: float = 5) -> str:
    """Send one line, return the one line that comes back ('' if the connection closed)."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(message.encode() + b"\n")
        return conn.makefile("rb").readline().decode().strip()


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"hello"

    def do_GET(self) -> None:
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        client = ""
        if peer:  # a client certificate (servers that ask for one): its common name
            # ssl's subject: relative distinguished names, each a tuple of (key, value) pairs
            subject = cast("tuple[tuple[tuple[str, str], ...], ...]", peer.get("subject", ()))
            names = [v for rdn in subject for k, v in rdn if k == "commonName"]
            client = f" client={names[0] if names else '?'}"
        sent = self.headers.get(PEER_HEADER)  # a sidecar's identity: never for hosts outside
        told = f" peer={sent}" if sent is not None else ""
        line = f" {self.path} host={self.headers.get('host')}{client}{told}\n"
        payload = self.body + line.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def http_server(
    body: str,
    tls: tuple[Path, Path] | None = None,
    address: str = "",
    client_ca: Path | None = None,
    port: int = 0,
) -> Iterator[tuple[str, int]]:
    """An HTTP (or HTTPS, with (cert, key)) server answering `<body> <path> host=<host>`; with
    `client_ca` it requires a client certificate from that CA and adds ` client=<its CN>`
    (`port`: a fixed one, on its own loopback address; else any)."""
    handler = type("Handler", (_Hello,), {"body": body.encode()})
    server = _HTTPServer((address or random_loopback(), port), handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(str(client_ca))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Echo(socketserver.StreamRequestHandler):
    prefix = "external"

    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(f"{self.prefix} {line.decode().strip()}\n".encode())
            self.wfile.flush()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


@contextlib.contextmanager
def tcp_echo_server(prefix: str) -> Iterator[tuple[str, int]]:
    handler = type("Echo", (_Echo,), {"prefix": prefix})
    server = _TCPServer((random_loopback(), 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def https_get(
    address: str,
    port: int,
    server_name: str,
    path: str = "/",
    ca: Path | None = None,
    client: tuple[Path, Path] | None = None,
    timeout: float = 10,
) -> tuple[int, str]:
    """GET over TLS to address:port with SNI/Host `server_name`; (status, body)."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    request = f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as conn,
    ):
        conn.sendall(request.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


def proxy_get(proxy: tuple[str, int], url: str, timeout: float = 10) -> tuple[int, str, str]:
    """GET `url` through an HTTP proxy (a sidecar's outbound listener): (status, flags, body)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://{proxy[0]}:{proxy[1]}"})
    )
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, "", resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, str(err.headers.get("x-pilotfish-flags", "")), err.read().decode()


class _Httpbin(http.server.BaseHTTPRequestHandler):
    """A stand-in for httpbin.org (and other public hosts of Istio's egress tasks): `/headers`
    answers the request's headers as JSON, names capitalised as httpbin's; `/delay/N` answers
    after N seconds; anything else 200 with a short body; HEAD as GET without the body."""

    protocol_version = "HTTP/1.1"
    server_version, sys_version = "httpbin", ""  # `| grep HTTP/` finds the status line only

    def do_GET(self, head: bool = False) -> None:
        if self.path.startswith("/delay/"):
            time.sleep(float(self.path.split("/")[2]))
        seen = {"-".join(w.capitalize() for w in k.split("-")): v for k, v in self.headers.items()}
        body = json.dumps({"headers": seen}, indent=2).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def httpbin_server(
    address: str = "", port: int = 80, tls: tuple[Path, Path] | None = None
) -> Iterator[tuple[str, int]]:
    """An httpbin-like server (`_Httpbin`) on `address:port` (a random loopback address, port 80
    by default: the port a ServiceEntry or ExternalName Service of Istio's pages names)."""
    server = _HTTPServer((address or random_loopback(), port), _Httpbin)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(server.server_address[0]), int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


if __name__ == "__main__":  # `python -m tests.e2e.l4kit HOST PORT COUNT [wait]`, e.g. in a pod
    import sys

    found = half_close_exchanges(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                 wait=sys.argv[4:] == ["wait"])  # fmt: skip
    print(json.dumps(found))
