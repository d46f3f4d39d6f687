"""ControlZ, istiod's introspection port (9876), kept small: one page with the logging scopes
(their levels can be changed there), the process (pid, uptime, threads), its memory, its command
line and environment, and a link to its metrics; and ControlZ's JSON API of the scopes
(`GET /scopej/`, `GET|PUT /scopej/NAME` with `{"output_level": …, "stack_trace_level": …}`,
202 on a change, 400 for an unknown scope), which `istioctl admin log` talks to.

Who may do what (`controlz_guard`): reading the page and the scopes is open, as 15014 is; a level
change is a write, so it needs the mesh owner's token (`controlplane.auth`), as `Authorization:
Bearer`, or the cookie set when the URL `pilotfish dashboard controlz` prints (`?token=`) is
opened; the environment is shown only to the owner too (it may hold the owner's secrets). The
`Host` must be an IP address or localhost (no DNS rebinding), and a form posted from another
origin is refused.
"""

from __future__ import annotations

import hmac
import html
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from pilotfish import __version__
from pilotfish.controlplane.auth import READ_METHODS, authenticated
from pilotfish.controlplane.scopes import LEVELS, ScopeError, Scopes
from pilotfish.ui.guard import host_allowed

COOKIE = "pilotfish-controlz-token"
OWNER = web.RequestKey("owner", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_owner(request: web.Request, token: str) -> bool:
    if authenticated(request, token):
        return True
    given = request.cookies.get(COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def controlz_guard(token: str) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not host_allowed(host):
            return web.json_response(
                {"error": "ControlZ answers only to an IP address"}, status=403
            )
        given = request.query.get("token", "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            query = {k: v for k, v in request.query.items() if k != "token"}
            response = web.HTTPFound(str(request.rel_url.with_query(query)))
            response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict")
            raise response
        owner = _is_owner(request, token)
        origin = request.headers.get("Origin")
        if origin and host and urlsplit(origin).netloc != host:
            return web.json_response({"error": "cross-origin request refused"}, status=403)
        if request.method not in READ_METHODS and not owner:
            message = (
                f"unauthenticated write refused: {request.method} {request.path} needs the mesh "
                "owner's token, which the pilotfish CLI sends"
            )
            return web.json_response({"error": message}, status=401)
        request[OWNER] = owner
        return await handler(request)

    return guard


class ControlZ:
    def __init__(self, scopes: Scopes, token: str, metrics_url: str) -> None:
        self.scopes = scopes
        self.token = token
        self.metrics_url = metrics_url

    def app(self) -> web.Application:
        app = web.Application(middlewares=[controlz_guard(self.token)])
        app.add_routes(
            [
                web.get("/", self.home),
                web.post("/scopez/", self.post_form),
                web.get("/scopej", self.get_scopes),
                web.get("/scopej/", self.get_scopes),
                web.get("/scopej/{scope}", self.get_scope),
                web.put("/scopej/{scope}", self.put_scope),
            ]
        )
        return app

    async def get_scopes(self, _request: web.Request) -> web.Response:
        return web.json_response(self.scopes.all())

    async def get_scope(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.scopes.info(request.match_info["scope"]))
        except ScopeError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def put_scope(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return web.json_response({"error": f"unable to decode request: {exc}"}, status=400)
        if not isinstance(body, dict):
            return web.json_response(
                {"error": "unable to decode request: not an object"}, status=400
            )
        try:
            self.scopes.update(
                request.match_info["scope"],
                str(body.get("output_level") or ""),
                str(body.get("stack_trace_level") or ""),
            )
        except ScopeError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(status=202)

    async def post_form(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        try:
            self.scopes.update(
                str(form.get("scope", "")),
                str(form.get("output_level", "")),
                str(form.get("stack_trace_level", "")),
            )
        except ScopeError as exc:
            return web.Response(status=400, text=str(exc))
        raise web.HTTPSeeOther("/#scopes")

    async def home(self, request: web.Request) -> web.Response:
        body = "\n".join(
            [
                "<!doctype html><html><head><meta charset='utf-8'>",
                "<title>ControlZ: pilotfish control plane</title></head><body>",
                f"<h1>ControlZ: istiod (pilotfish {html.escape(__version__)})</h1>",
                f"<p><a href='{html.escape(self.metrics_url)}'>Metrics</a></p>",
                self._scopes_html(bool(request.get(OWNER))),
                _section("Process", _process()),
                _section("Memory", _memory()),
                _section("Command-line arguments", {str(i): a for i, a in enumerate(sys.argv)}),
                _section("Environment", dict(sorted(os.environ.items())))
                if request.get(OWNER)
                else "<h2>Environment</h2><p>shown to the mesh owner only (the browser "
                "<code>pilotfish dashboard controlz</code> opens)</p>",
                "</body></html>",
            ]
        )
        return web.Response(text=body, content_type="text/html")

    def _scopes_html(self, owner: bool) -> str:
        rows = []
        for scope in self.scopes.all():
            name = html.escape(str(scope["name"]))
            cells = [name, html.escape(str(scope["description"]))]
            for field in ("output_level", "stack_trace_level"):
                current = str(scope[field])
                if owner:
                    options = "".join(
                        f"<option{' selected' if level == current else ''}>{level}</option>"
                        for level in LEVELS
                    )
                    cells.append(
                        f"<form method='post' action='/scopez/'>"
                        f"<input type='hidden' name='scope' value='{name}'>"
                        f"<select name='{field}' onchange='this.form.submit()'>{options}"
                        "</select></form>"
                    )
                else:
                    cells.append(html.escape(current))
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(
            f"<th>{c}</th>" for c in ("Scope", "Description", "Output level", "Stack trace level")
        )
        note = (
            "" if owner else "<p>levels are changed by the mesh owner (`pilotfish admin log`)</p>"
        )
        table = f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        return f"<h2 id='scopes'>Logging Scopes</h2>{table}{note}"


def _section(title: str, values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<h2>{html.escape(title)}</h2><table>{rows}</table>"


def _process() -> dict[str, Any]:
    return {
        "Process ID": os.getpid(),
        "Parent process ID": os.getppid(),
        "Threads": threading.active_count(),
        "Working directory": os.getcwd(),
        "User ID": os.getuid(),
        "Python": sys.version.split()[0],
        "Started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_started())),
    }


def _started() -> float:
    """The process's start, from /proc (seconds since boot + boot time)."""
    try:
        stat = Path(f"/proc/{os.getpid()}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()


def _memory() -> dict[str, Any]:
    """The process's memory as /proc/self/status reports it (resident, peak, virtual)."""
    wanted = {"VmRSS": "Resident", "VmHWM": "Peak resident", "VmSize": "Virtual",
              "RssAnon": "Resident anonymous"}  # fmt: skip
    found: dict[str, Any] = {}
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key in wanted:
            found[wanted[key]] = value.strip()
    return found
