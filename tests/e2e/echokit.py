"""An aiohttp echo app and the manifest that runs it in a mesh, for tests that need to see what
reaches the app: `/headers` (any method; the body is read, the request headers come back as
JSON, `server: echo-app`) and `/ws` (a WebSocket answering `echo:<text>`)."""

from __future__ import annotations

import sys
from pathlib import Path

ECHO_APP = """
import os
from aiohttp import web

async def headers(request):
    await request.read()
    return web.json_response(dict(request.headers), headers={"server": "echo-app"})

async def websocket(request):
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    async for message in sock:
        if message.type == web.WSMsgType.TEXT:
            await sock.send_str("echo:" + message.data)
    return sock

app = web.Application()
app.router.add_route("*", "/headers", headers)
app.router.add_get("/ws", websocket)
host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])
print(f"listening on http://{host}:{port}", flush=True)
web.run_app(app, host=host, port=port, print=None)
"""


def echo_manifest(apps: Path) -> str:
    """Service `echo` (port 8000 -> container 8080) and its Workload, as YAML (ends with ---)."""
    app = apps / "echo_app.py"
    app.write_text(ECHO_APP)
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: echo}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  replicas: 1
  command: ["{sys.executable}", "{app}"]
  ports: [8080]
---
"""
