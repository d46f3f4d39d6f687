"""The websockets sample for pilotfish: Istio's `tornado` websocket example app (the image
`docker.io/hiroakis/tornado-websocket-example` that Istio's `samples/websockets/app.yaml` runs
maps here, so that file applies unchanged).

`GET /` is the demo page; `GET /ws` upgrades to a WebSocket. As in the original app,
`GET /api?id=ID&value=VALUE` answers 200 and sends `{"id": "ID", "value": "VALUE"}` to every
open socket. pilotfish's addition: each text message a client sends is echoed back, prefixed
with the instance name. Listens on $HOST:$PORT (the agent sets them), default 8888.
"""

from __future__ import annotations

import json
import os

from aiohttp import WSMsgType, web

PAGE = """<html><head><title>tornado WebSocket example</title></head><body>
<h1>tornado WebSocket example</h1>
<p>WebSocket status: <span id="status">closed</span></p>
<table id="data"><tr><th>id</th><th>value</th></tr></table>
<script>
var scheme = location.protocol === "https:" ? "wss://" : "ws://";
var ws = new WebSocket(scheme + location.host + "/ws");
ws.onopen = function () { document.getElementById("status").textContent = "open"; };
ws.onclose = function () { document.getElementById("status").textContent = "closed"; };
ws.onmessage = function (event) {
  var data = JSON.parse(event.data), row = document.getElementById("row-" + data.id);
  if (!row) { row = document.getElementById("data").insertRow(-1); row.id = "row-" + data.id;
    row.insertCell(0).textContent = data.id; row.insertCell(1); }
  row.cells[1].textContent = data.value;
  var v = parseInt(data.value, 10);
  row.style.background = v > 500 ? "red" : (v > 200 ? "yellow" : "");
};
</script>
<p>REST API: <code>curl "http://HOST/api?id=1&amp;value=100"</code></p>
</body></html>
"""
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets", set)


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    name = os.environ.get("POD_NAME", "tornado")
    request.app[SOCKETS].add(ws)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(f"{name}: {message.data}")
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def api(request: web.Request) -> web.Response:
    if "id" not in request.query or "value" not in request.query:
        return web.Response(status=400, text="Missing argument id or value\n")
    data = json.dumps({"id": request.query["id"], "value": request.query["value"]})
    for ws in list(request.app[SOCKETS]):
        if not ws.closed:
            await ws.send_str(data)
    return web.Response(text="")


def main() -> None:
    app = web.Application()
    app[SOCKETS] = set()
    app.router.add_get("/", index)
    app.router.add_get("/ws", socket)
    app.router.add_get("/api", api)
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8888"))
    print(f"listening on http://{host}:{port}", flush=True)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
