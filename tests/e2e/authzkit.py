"""Helpers for the authorization e2e tests: a mesh of httpbin, sleep, tcp-echo and a `guarded` app
(an aiohttp server with a secret `/admin` and a `/public` page), a `lenient` file server with the
same secret, and raw HTTP/1.1 over a socket,
so a test sends exactly the bytes it means (curl and urllib normalize paths; attackers do not).
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh

SECRET = "ADMIN-SECRET-7f3a"
GUARDED_APP = f"""
import os
from aiohttp import web

async def admin(request):
    return web.Response(text="{SECRET}")

async def public(request):
    return web.Response(text="PUBLIC")

async def other(request):
    return web.Response(status=404, text="not found: " + request.raw_path)

app = web.Application()
app.router.add_route("*", "/admin", admin)
app.router.add_route("*", "/public", public)
app.router.add_route("*", "/{{tail:.*}}", other)
host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])
print(f"listening on http://{{host}}:{{port}}", flush=True)
web.run_app(app, host=host, port=port, print=None)
"""

# A lenient backend, as many real servers are: Python's own file server percent-decodes the
# whole path (%2F and %5C included), merges slashes and resolves `.`/`..` before it looks up a
# file, so any spelling of /admin that reaches it is served.
LENIENT_APP = f"""
import functools, http.server, os, pathlib
root = pathlib.Path(__file__).with_name("site")
(root / "public").mkdir(parents=True, exist_ok=True)
(root / "admin").write_text("{SECRET}")
(root / "public" / "page").write_text("PUBLIC")
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), handler)
print("listening", flush=True)
server.serve_forever()
"""

# Serves samples/jwt (jwks.json) inside the mesh, so Envoy fetches the keys of a jwksUri from a
# mesh service's cluster, never from outside.
JWKS_APP = f"""
import functools, http.server, os
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="{ROOT}/samples/jwt")
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), handler)
print("listening", flush=True)
server.serve_forever()
"""


def authz_manifest(folder: Path) -> Path:
    """Write the mesh's manifest into `folder` (returned, for `pilotfish up`)."""
    (folder / "guarded_app.py").write_text(GUARDED_APP)
    (folder / "lenient_app.py").write_text(LENIENT_APP)
    (folder / "jwks_app.py").write_text(JWKS_APP)
    samples = ROOT / "samples"
    (folder / "mesh.yaml").write_text(
        f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: httpbin}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sleep}}
---
apiVersion: v1
kind: Service
metadata: {{name: httpbin, labels: {{app: httpbin}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: httpbin}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: httpbin, labels: {{app: httpbin, version: v1}}}}
spec:
  serviceAccount: httpbin
  command: ["{sys.executable}", "{samples}/httpbin/httpbin.py"]
  ports: [8080]
---
apiVersion: v1
kind: Service
metadata: {{name: sleep, labels: {{app: sleep}}}}
spec:
  ports: [{{name: http, port: 80}}]
  selector: {{app: sleep}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: sleep, labels: {{app: sleep}}}}
spec:
  serviceAccount: sleep
  command: ["{sys.executable}", "{samples}/sleep/sleep.py"]
  ports: [80]
---
apiVersion: v1
kind: Namespace
metadata: {{name: other}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sleep, namespace: other}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: sleep-other, namespace: other, labels: {{app: sleep}}}}
spec:
  serviceAccount: sleep
  command: ["{sys.executable}", "{samples}/sleep/sleep.py"]
  ports: [80]
---
apiVersion: v1
kind: Service
metadata: {{name: tcp-echo, labels: {{app: tcp-echo}}}}
spec:
  ports: [{{name: tcp, port: 9000}}]
  selector: {{app: tcp-echo}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: tcp-echo, labels: {{app: tcp-echo}}}}
spec:
  command: ["{sys.executable}", "{samples}/tcp-echo/tcp_echo.py", "one"]
  ports: [9000]
---
apiVersion: v1
kind: Service
metadata: {{name: guarded, labels: {{app: guarded}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: guarded}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: guarded, labels: {{app: guarded, role: guarded}}}}
spec:
  command: ["{sys.executable}", "{folder}/guarded_app.py"]
  ports: [8080]
---
apiVersion: v1
kind: Service
metadata: {{name: lenient, labels: {{app: lenient}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: lenient}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: lenient, labels: {{app: lenient, role: guarded}}}}
spec:
  command: ["{sys.executable}", "{folder}/lenient_app.py"]
  ports: [8080]
---
apiVersion: v1
kind: Service
metadata: {{name: jwks, labels: {{app: jwks}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: jwks}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: jwks, labels: {{app: jwks}}}}
spec:
  command: ["{sys.executable}", "{folder}/jwks_app.py"]
  ports: [8080]
"""
    )
    return folder


@contextlib.contextmanager
def authz_mesh(factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(factory, str(authz_manifest(factory.mktemp("authz-mesh")))) as mesh:
        yield mesh


@dataclass
class Raw:
    status: int
    body: str
    head: str


def inbound(mesh: LocalMesh, instance: str) -> str:
    """The instance's address (its sidecar's inbound listeners bind it)."""
    ip: str = mesh.proxy(instance)["ip"]
    return ip


def raw_http(
    host: str,
    port: int,
    target: str,
    *,
    method: str = "GET",
    authority: str = "httpbin",
    headers: tuple[tuple[str, str], ...] = (),
    source: str = "",
    timeout: float = 10,
) -> Raw:
    """One HTTP/1.1 request with exactly this request-target; status 0 if the connection closed
    before any answer."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {authority}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(
        (host, port), timeout=timeout, source_address=(source, 0) if source else None
    ) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    text = b"".join(chunks).decode("latin-1")
    if not text.startswith("HTTP/"):
        return Raw(0, "", text)
    head, _, body = text.partition("\r\n\r\n")
    return Raw(int(head.split(" ", 2)[1]), body, head)
