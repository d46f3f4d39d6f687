"""Running a container's readiness probe, as Istio's agent does once the injector has rewritten
the probe to `/app-health/<container>/readyz` on 15020: an HTTP GET (kubelet's rules: any status
from 200 to 399 passes; headers from `httpHeaders`; `User-Agent: kube-probe/…`; an HTTPS
certificate is not verified) or a TCP connection to the app's port.

Owns `run_probe`. The probe goes straight to the app (never through a proxy or the sidecar).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from pilotfish.agent.processes import tcp_open
from pilotfish.registry.workloads import ReadinessProbe

USER_AGENT = "kube-probe/1.34"


async def run_probe(probe: ReadinessProbe, host: str, port: int) -> bool:
    """True when the probe passes against the app listening at host:port."""
    if probe.kind == "tcp":
        return await tcp_open(host, port, timeout=probe.timeout_seconds)
    try:
        return await asyncio.wait_for(_http_get(probe, host, port), probe.timeout_seconds)
    except (OSError, TimeoutError, ValueError, ssl.SSLError):
        return False


async def _http_get(probe: ReadinessProbe, host: str, port: int) -> bool:
    context: ssl.SSLContext | None = None
    if probe.scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        given = {name.lower() for name, _ in probe.headers}
        lines = [f"GET {probe.path} HTTP/1.1"]
        if "host" not in given:
            lines.append(f"Host: {host}:{port}")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        lines += [f"{name}: {value}" for name, value in probe.headers]
        lines += ["Accept: */*", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        await writer.drain()
        status = (await reader.readline()).decode("latin-1").split()
        return len(status) >= 2 and status[1].isdigit() and 200 <= int(status[1]) < 400
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
