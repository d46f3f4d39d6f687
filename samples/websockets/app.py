"""The websockets sample for pilotfish: Istio's `tornado` websocket example app.

`GET /` is a page; `GET /ws` upgrades to a WebSocket that echoes every text message back,
prefixed with the instance name. Listens on $HOST:$PORT (the agent sets them), default 8888.
"""

from __future__ import annotations

import os

from aiohttp import WSMsgType, web

PAGE = "<html><body><h1>tornado websocket example</h1><p>connect to /ws</p></body></html>\n"


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    name = os.environ.get("POD_NAME", "tornado")
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(f"{name}: {message.data}")
    return ws


def main() -> None:
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/ws", echo)
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8888"))
    print(f"listening on http://{host}:{port}", flush=True)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
