"""The mesh the mTLS end-to-end tests share: a recording app behind servers under every
PeerAuthentication mode, a sidecar client, and a server with no sidecar.

The `strict` server's agent generates ECDSA P-256 keys (asked for per pod, as in Istio); the
other agents RSA 2048 keys (Istio's default).

The recording app (`record_app.py`) serves HTTP on container port 8080 (`/record?m=MARKER`
answers the request headers as JSON) and a line echo on TCP port 9000; it appends everything it
receives to `<records>/<pod>.log`, so a test can prove a refused connection delivered no byte.
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

RECORD_APP = r"""
import asyncio, json, os
from aiohttp import web

LOG = os.path.join(os.environ["RECORD_DIR"], os.environ["POD_NAME"] + ".log")
HOST = os.environ.get("HOST", "127.0.0.1")

def record(text):
    with open(LOG, "a") as handle:
        handle.write(text + "\n")

async def http_record(request):
    record("http " + request.path_qs)
    return web.json_response(dict(request.headers))

async def tcp_echo(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        record("tcp " + line.decode(errors="replace").strip())
        writer.write(b"echo " + line)
        await writer.drain()
    writer.close()

async def main():
    app = web.Application()
    app.router.add_get("/record", http_record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, int(os.environ["PORT_8080"])).start()
    await asyncio.start_server(tcp_echo, HOST, int(os.environ["PORT_9000"]))
    open(LOG, "a").close()
    await asyncio.Event().wait()

asyncio.run(main())
"""

SERVERS = ("strict", "permissive", "disable", "portlevel", "legacy")


def _service(name: str) -> str:
    return f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  ports:
  - {{name: http, port: 8000, targetPort: 8080}}
  - {{name: tcp, port: 9000, targetPort: 9000}}
  selector: {{app: {name}}}
---
"""


# The `strict` server's agent makes ECDSA keys (Istio's ECC_SIGNATURE_ALGORITHM through the
# `proxy.istio.io/config` annotation); every other agent makes Istio's default, RSA 2048.
ECDSA_SERVER = "strict"


def _workload(name: str, app: Path, records: Path, sidecar: bool = True) -> str:
    annotations = "" if sidecar else ', annotations: {sidecar.istio.io/inject: "false"}'
    if name == ECDSA_SERVER:
        annotations = (
            ", annotations: {proxy.istio.io/config: "
            '"proxyMetadata: {ECC_SIGNATURE_ALGORITHM: ECDSA}"}'
        )
    return f"""apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: {name}, labels: {{app: {name}}}{annotations}}}
spec:
  serviceAccount: {name}
  command: ["{sys.executable}", "{app}"]
  env: {{RECORD_DIR: "{records}"}}
  ports: [8080, 9000]
---
"""


POLICIES = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict}
spec:
  selector: {matchLabels: {app: strict}}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: disable}
spec:
  selector: {matchLabels: {app: disable}}
  mtls: {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: portlevel}
spec:
  selector: {matchLabels: {app: portlevel}}
  mtls: {mode: STRICT}
  portLevelMtls:
    "8080": {mode: DISABLE}
---
"""


def write_mesh(folder: Path) -> Path:
    """The mesh folder (manifest + policies); records go to `folder/records`."""
    records = folder / "records"
    records.mkdir(parents=True, exist_ok=True)
    app = folder / "record_app.py"
    app.write_text(RECORD_APP)
    docs = [_service(n) + _workload(n, app, records, sidecar=n != "legacy") for n in SERVERS]
    docs.append(_service("client") + _workload("client", app, records))
    (folder / "mesh.yaml").write_text("".join(docs) + POLICIES)
    return records


def recorded(records: Path, pod: str) -> str:
    path = records / f"{pod}.log"
    return path.read_text() if path.exists() else ""


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_direct(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> str:
    """GET without any proxy (a client with no sidecar). Returns the body, or raises OSError."""
    request = urllib.request.Request(url, headers=headers or {})
    with _DIRECT.open(request, timeout=timeout) as resp:
        return str(resp.read().decode())


def http_via_sidecar(proxy: str, url: str, timeout: float = 5) -> tuple[int, str]:
    """GET through a sidecar's outbound HTTP proxy, as an app using HTTP_PROXY does."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def tcp_line(host: str, port: int, line: str, timeout: float = 5) -> str:
    """Send one line; return the line that came back ('' when the connection was closed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(line.encode() + b"\n")
            return conn.makefile("rb").readline().decode().strip()
    except (ConnectionResetError, BrokenPipeError):
        return ""
