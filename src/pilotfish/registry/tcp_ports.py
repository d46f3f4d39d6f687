"""Where a sidecar listens for an app's outbound TCP traffic, and the environment that says so.

Apps reach HTTP services through their sidecar's HTTP proxy. TCP (and TLS, HTTPS, other
non-HTTP) service ports have no proxy protocol, so every sidecar gets one outbound TCP listener
per such service port, at its own address: `<proxy ip>:<service port>`. When that port is taken
(by the sidecar's own inbound ports or Istio's 150xx ports, by another service with the same
port number, or is privileged, below 1024) the listener moves to a port derived from a hash of
`host:port` in 20000-29999 (the next free one after it), so the choice is stable and both the
control plane (which builds the listener) and the agent (which tells the app) compute the same
answer from the same registry (all services, before any Sidecar scoping; Kubernetes services
claim their port before ServiceEntry hosts, then in hostname order).

The app learns the address the way a Kubernetes pod does, from service environment variables:
`<NAME>_SERVICE_HOST` / `<NAME>_SERVICE_PORT` (`TCP_ECHO_SERVICE_HOST=127.A.B.C`,
`TCP_ECHO_SERVICE_PORT=9000`) and `<NAME>_SERVICE_PORT_<PORT NAME>` for services of the
proxy's namespace. Pure.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from pilotfish.registry.types import Protocol, Service, ServicePort

SIDECAR_PORTS = frozenset({15000, 15001, 15006, 15020, 15021, 15090})
FALLBACK_BASE, FALLBACK_SPAN = 20000, 10000


@dataclass(frozen=True)
class TcpListenerPort:
    """One outbound TCP listener of a sidecar: which service port, and where it listens."""

    service: Service
    port: ServicePort
    listen_port: int


def is_tcp_port(port: ServicePort) -> bool:
    """Ports that get an outbound TCP listener: anything not HTTP-family, not UNKNOWN (sniffed)
    and not UDP (Istio's proxies build no listener for it)."""
    return not port.protocol.is_http and port.protocol not in (Protocol.UNKNOWN, Protocol.UDP)


def outbound_tcp_ports(
    services: Iterable[Service], inbound_ports: Iterable[int] = ()
) -> list[TcpListenerPort]:
    """Listen ports for every TCP service port, in (hostname, port) order."""
    taken = set(SIDECAR_PORTS) | set(inbound_ports)
    wanted = sorted(
        ((s, p) for s in services for p in s.ports if is_tcp_port(p)),
        key=lambda pair: (pair[0].from_service_entry, pair[0].hostname, pair[1].port),
    )
    chosen: list[TcpListenerPort] = []
    for service, port in wanted:
        listen = port.port
        if listen in taken or listen < 1024:
            key = f"{service.hostname}:{port.port}".encode()
            offset = zlib.crc32(key) % FALLBACK_SPAN
            for step in range(FALLBACK_SPAN):
                listen = FALLBACK_BASE + (offset + step) % FALLBACK_SPAN
                if listen not in taken:
                    break
        taken.add(listen)
        chosen.append(TcpListenerPort(service, port, listen))
    return chosen


def env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_").replace(".", "_")


def service_environment(
    proxy_ip: str, namespace: str, listeners: Iterable[TcpListenerPort]
) -> dict[str, str]:
    """Kubernetes-style service variables for the TCP services of `namespace`."""
    env: dict[str, str] = {}
    for item in listeners:
        service = item.service
        if service.namespace != namespace or service.from_service_entry:
            continue
        name = env_name(service.name)
        env.setdefault(f"{name}_SERVICE_HOST", proxy_ip)
        env.setdefault(f"{name}_SERVICE_PORT", str(item.listen_port))
        if item.port.name:
            env[f"{name}_SERVICE_PORT_{env_name(item.port.name)}"] = str(item.listen_port)
    return env
