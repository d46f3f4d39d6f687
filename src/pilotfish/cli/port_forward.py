"""`pilotfish port-forward TYPE/NAME [LOCAL:]REMOTE…`: kubectl's port-forward on a local mesh.

As on Kubernetes, a connection to the local port reaches the pod's own port, not its Service
and not its sidecar's inbound listener: kubectl enters the pod's network namespace and dials
`localhost:PORT`, which Istio's capture rules leave alone. Here that is the app's own socket
(`127.0.0.1:<port>`, from `mesh.json`'s `app_ports`); Istio's ports (15000 admin, 15021, 15090)
are the sidecar's on the pod address; a gateway's other ports are its listeners (the ingress
gateway's on the ingress address); `istiod` is the control plane's address. An isolated pod
has its own loopback, so there the pod address is dialled (its sidecar's inbound, which
accepts plaintext unless STRICT). `svc/NAME` picks one ready pod of the Service and maps the
Service port to its `targetPort`; `deploy/NAME` picks one pod of the deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from pilotfish.cli import kube_get
from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.get import has_labels
from pilotfish.cli.kube_pods import is_ready
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.selectors import Selector

ISTIO_PORTS = (15000, 15020, 15021, 15090)
ADDONS = ("kiali", "prometheus", "grafana", "tracing", "jaeger", "zipkin")


def parse_ports(specs: list[str]) -> list[tuple[int, int]]:
    """`8080:80`, `80` (same port), `:80` (a free local port: 0)."""
    found = []
    for spec in specs:
        local, sep, remote = spec.rpartition(":")
        local = local if sep else remote
        try:
            pair = (int(local or 0), int(remote))
        except ValueError:
            raise UserError(f'invalid port "{spec}": expected [LOCAL:]REMOTE') from None
        if not (0 <= pair[0] < 65536 and 0 < pair[1] < 65536):
            raise UserError(f'invalid port "{spec}": ports are 1-65535')
        found.append(pair)
    if not found:
        raise UserError("at least 1 PORT is required for port-forward")
    return found


def _service_pod(
    info: dict[str, Any], name: str, ns: str, ports: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """(pod name, ports mapped to the pod's) for `svc/NAME`: Service port -> targetPort."""
    services = [
        s
        for s in kube_get.objects("svc", info)
        if s["metadata"]["name"] == name and s["metadata"].get("namespace", "default") == ns
    ]
    if not services:
        hint = ", or `pilotfish dashboard " + name + "`" if name in ADDONS else ""
        raise UserError(f'services "{name}" not found in namespace "{ns}"{hint}')
    spec = services[0].get("spec") or {}
    mapped = []
    for local, remote in ports:
        port = next((p for p in spec.get("ports") or [] if p.get("port") == remote), None)
        if port is None:
            raise UserError(f"Service {name} does not have a service port {remote}")
        target = port.get("targetPort", remote)
        mapped.append((local or 0, int(target) if str(target).isdigit() else remote))
    selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
    pods = [
        p
        for p in kube_get.objects("pod", info)
        if p["metadata"]["namespace"] == ns and selector and has_labels(p, Selector.equal(selector))
    ]
    ready = [p for p in pods if is_ready(p)] or pods
    if not ready:
        raise UserError(f"error: unable to forward port because no pod selected by service {name}")
    return str(sorted(p["metadata"]["name"] for p in ready)[0]), mapped


def destination(info: dict[str, Any], pod: str, ns: str, port: int) -> tuple[str, int]:
    """HOST:PORT on this machine that is POD's own PORT."""
    if ns == "istio-system" and pod.rsplit("-", 1)[0] == "istiod":
        return str(info.get("api", "")).split("//")[-1].split(":")[0], port
    _, row = resolve_pod(info, f"pod/{pod}", ns)
    if port == 15000:
        host, _, admin = admin_address(row).rpartition(":")
        return host, int(admin)
    app_port = (row.get("app_ports") or {}).get(str(port))
    if app_port and not row.get("netns"):
        return "127.0.0.1", int(app_port)
    if row.get("type") == "router" and port not in ISTIO_PORTS:
        return str(info.get("ingress_address") or row["ip"]), port
    return str(row["ip"]), port


def resolve_target(
    info: dict[str, Any], target: str, ns: str, ports: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    kind, sep, name = target.partition("/")
    if sep and kind.lower() in kube_get.SERVICE_KINDS:
        return _service_pod(info, name, ns, ports)
    if ns == "istio-system" and target.split("/")[-1] in ("istiod", "istiod-0"):
        return "istiod-0", ports
    try:
        _, row = resolve_pod(info, target, ns)
    except PodNotFound as exc:
        raise UserError(str(exc)) from None
    return str(row.get("instance")), ports


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _serve(
    state_dir: Path, pod: str, ns: str, address: str, ports: list[tuple[int, int]]
) -> int:
    servers = []

    def handler(bound: list[int], remote: int) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            local = bound[0]
            print(f"Handling connection for {local}", flush=True)
            host, port = destination(running_mesh(state_dir), pod, ns, remote)
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                print(
                    f"error: an error occurred forwarding {local} -> {remote}: error forwarding"
                    f" port {remote} to pod {pod}: {exc.strerror or exc}",
                    file=sys.stderr,
                    flush=True,
                )
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()

        return handle

    for local, remote in ports:
        bound = [local]
        try:
            server = await asyncio.start_server(handler(bound, remote), address, local)
        except OSError as exc:
            print(f"Unable to listen on port {local}: {exc.strerror or exc}", file=sys.stderr)
            print(
                f"error: unable to listen on any of the requested ports: [{{{local} {remote}}}]",
                file=sys.stderr,
            )
            return 1
        bound[0] = server.sockets[0].getsockname()[1]
        servers.append(server)
        print(f"Forwarding from {address}:{bound[0]} -> {remote}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))
    return 0


def port_forward_command(
    target: str, specs: list[str], namespace: str | None, address: str, state_dir: Path
) -> int:
    """Forward until interrupted (Ctrl-C), as kubectl does."""
    ports = parse_ports(specs)
    ns = namespace or "default"
    info = running_mesh(state_dir)
    pod, mapped = resolve_target(info, target, ns, ports)
    destination(info, pod, ns, mapped[0][1])  # the pod exists: fail now, not per connection
    host = "127.0.0.1" if address == "localhost" else address
    return asyncio.run(_serve(state_dir, pod, ns, host, mapped))
