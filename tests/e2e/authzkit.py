"""Helpers for the authorization e2e tests: a mesh of httpbin, sleep, tcp-echo and a `guarded` app
(an aiohttp server with a secret `/admin`, a `/public` page and `/public/headers`, which
echoes the request's headers), a `lenient` file server with the
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

from tests.e2e.meshctl import (
    ROOT,
    LocalMesh,
    account_yaml,
    running_mesh,
    service_yaml,
    workload_yaml,
)

SECRET = "ADMIN-SECRET-7f3a"
GUARDED_APP = f"""
import os
from aiohttp import web

async def admin(request):
    return web.Response(text="{SECRET}")

async def public(request):
    return web.Response(text="PUBLIC")

async def headers(request):
    return web.Response(text="\\n".join(f"{{k}}: {{v}}" for k, v in request.headers.items()))

async def other(request):
    return web.Response(status=404, text="not found: " + request.raw_path)

app = web.Application()
app.router.add_route("*", "/admin", admin)
app.router.add_route("*", "/public", public)
app.router.add_route("*", "/public/headers", headers)
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
    python = sys.executable
    sleep = [python, f"{samples}/sleep/sleep.py"]
    own = {"guarded": {"role": "guarded"}, "lenient": {"role": "guarded"}, "jwks": {}}
    (folder / "mesh.yaml").write_text(
        account_yaml("httpbin")
        + account_yaml("sleep")
        + service_yaml("httpbin", 8000, 8080)
        + workload_yaml(
            "httpbin",
            [python, f"{samples}/httpbin/httpbin.py"],
            [8080],
            labels={"app": "httpbin", "version": "v1"},
            service_account="httpbin",
        )
        + service_yaml("sleep", 80)
        + workload_yaml("sleep", sleep, [80], service_account="sleep")
        + "apiVersion: v1\nkind: Namespace\n"
        + "metadata: {name: other, labels: {istio-injection: enabled}}\n---\n"
        + account_yaml("sleep", namespace="other")
        + workload_yaml(
            "sleep-other",
            sleep,
            [80],
            labels={"app": "sleep"},
            service_account="sleep",
            namespace="other",
        )
        + service_yaml("tcp-echo", 9000, port_name="tcp")
        + workload_yaml("tcp-echo", [python, f"{samples}/tcp-echo/tcp_echo.py", "one"], [9000])
        + "".join(
            service_yaml(name, 8000, 8080)
            + workload_yaml(
                name, [python, f"{folder}/{name}_app.py"], [8080], labels={"app": name, **more}
            )
            for name, more in own.items()
        )
    )
    return folder


def policy(name: str, action: str | None, rules: str, app: str = "httpbin") -> str:
    """An AuthorizationPolicy in `default` selecting `app`; `rules` is the YAML list under
    `rules:` (items at column 2)."""
    verb = f"  action: {action}\n" if action else ""
    return (
        "\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata: {{name: {name}, namespace: default}}\nspec:\n"
        f"  selector: {{matchLabels: {{app: {app}}}}}\n{verb}  rules:\n{rules}"
    )


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


def _complete(data: bytes, method: str) -> bool:
    """Whether `data` holds a whole HTTP/1.1 response: the reader stops there rather than wait
    for the close (Envoy holds a closing connection up to its 1 s delayed-close timeout until the
    client closes first)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[1].isdigit():
        return False
    code = int(status[1])
    if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
        return True
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "chunked" in fields.get("transfer-encoding", ""):
        return body.endswith(b"0\r\n\r\n")
    length = fields.get("content-length", "")
    return length.isdigit() and len(body) >= int(length)


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
    before any answer. Reads until the response is whole (its length or last chunk), else until
    the server closes."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {authority}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(
        (host, port), timeout=timeout, source_address=(source, 0) if source else None
    ) as conn:
        conn.sendall(data)
        received = b""
        while not _complete(received, method):
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    text = received.decode("latin-1")
    if not text.startswith("HTTP/"):
        return Raw(0, "", text)
    head, _, body = text.partition("\r\n\r\n")
    return Raw(int(head.split(" ", 2)[1]), body, head)
