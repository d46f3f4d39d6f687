"""HTTP plumbing shared by pilotfish's sample apps (Bookinfo, httpbin, sleep): stdlib only.

Owns: the `Request`/`Response` values the apps' route functions take and return, the threaded
HTTP/1.1 keep-alive server (Nagle off, listen backlog 128: see ENVOY-NOTES), the agent contract
(`HOST`, `PORT`, `POD_NAME` … in the environment), stopping on SIGTERM, and outbound GETs through
`urllib` (which honours `HTTP_PROXY`, so in the mesh every call goes through the app's sidecar).

An app defines `route(request) -> Response` and calls `serve(route, default_port=...)`. Once
listening, `serve` prints one line `listening on http://HOST:PORT` to stdout (with `PORT=0` the
kernel picks the port, which is how the tests start apps without port races).

Errors: a route that raises is answered with a 500 and a traceback on stderr; outbound calls
never raise, they return `UpstreamReply(status=0, ...)` when no HTTP answer came back.
"""

from __future__ import annotations

import http.client
import http.cookies
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, ClassVar

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Request:
    """One HTTP request as a route function sees it."""

    method: str
    target: str  # the request-target as sent: path and query
    headers: Headers  # in arrival order, names as sent
    body: bytes = b""
    client_ip: str = ""

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        query = urllib.parse.urlsplit(self.target).query
        return urllib.parse.parse_qs(query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The header's values joined with ',' (case-insensitive name), or None when absent."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def cookies(self) -> dict[str, str]:
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            jar.load(self.header("cookie") or "")
        except http.cookies.CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    @property
    def form(self) -> dict[str, list[str]]:
        """The body parsed as application/x-www-form-urlencoded (also when no type is given;
        empty for other types)."""
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if content_type not in ("", "application/x-www-form-urlencoded"):
            return {}
        return urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass(frozen=True)
class Response:
    """What a route function returns; the server always adds Content-Length."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Headers = field(default=())

    def with_headers(self, extra: Iterable[tuple[str, str]]) -> Response:
        return Response(self.status, self.body, self.content_type, self.headers + tuple(extra))


def json_response(value: Any, status: int = 200, headers: Headers = ()) -> Response:
    body = json.dumps(value, indent=2).encode() + b"\n"
    return Response(status, body, "application/json", headers)


def text_response(text: str, status: int = 200, headers: Headers = ()) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8", headers)


def html_response(html: str, status: int = 200, headers: Headers = ()) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8", headers)


def redirect(location: str, headers: Headers = ()) -> Response:
    return Response(302, b"", "text/plain; charset=utf-8", (("Location", location), *headers))


Route = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "pilotfish-sample"
    route: ClassVar[Route]

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        request = Request(
            method=self.command,
            target=self.path,
            headers=tuple(self.headers.items()),
            body=self._read_body(),
            client_ip=str(self.client_address[0]),
        )
        try:
            response = type(self).route(request)
        except Exception:
            traceback.print_exc()
            response = text_response("internal error\n", 500)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(route: Route, host: str, port: int, quiet: bool = False) -> ThreadingHTTPServer:
    """A bound, listening server for `route` (not yet serving); `quiet`: no line per request
    on stderr (for apps whose original logs none, as Go's net/http)."""
    members: dict[str, Any] = {"route": staticmethod(route)}
    if quiet:
        members["log_message"] = lambda self, format, *args: None
    handler = type("RouteHandler", (_Handler,), members)
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), handler)


def serve(route: Route, default_port: int) -> None:
    """Serve `route` on $HOST:$PORT (or argv[1], as Istio's apps take it) until SIGTERM/SIGINT."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else default_port))
    server = make_server(route, host, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown_host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_until_signalled(servers: list[ThreadingHTTPServer], stopping: Callable[[], None]) -> None:
    """Serve each server in a thread of its own until SIGTERM or SIGINT, then call `stopping`
    (what the app does first, e.g. stop its gRPC server and say so) and close them."""
    for server in servers:
        kwargs = {"poll_interval": 0.25}
        threading.Thread(target=server.serve_forever, kwargs=kwargs, daemon=True).start()
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    stopping()
    for server in servers:
        server.shutdown()
        server.server_close()


def go_log(line: str) -> None:
    """One line as Go's standard logger writes it (`2006/01/02 15:04:05 ...`): the log of the
    samples whose original is a Go program."""
    print(time.strftime("%Y/%m/%d %H:%M:%S ") + line, flush=True)


def go_flags(argv: list[str], defaults: Mapping[str, str]) -> dict[str, str]:
    """Go's flag syntax for a Go sample's flags (`defaults`: name -> value): `-name value`,
    `-name=value`, `--name …`; an unknown flag or one without its value exits as Go's does."""
    found = dict(defaults)
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        name, equals, value = word.lstrip("-").partition("=")
        if not word.startswith("-") or name not in defaults:
            raise SystemExit(f"flag provided but not defined: {word}")
        if not equals:
            if not rest:
                raise SystemExit(f"flag needs an argument: {word}")
            value = rest.pop(0)
        found[name] = value
    return found


def pod_name() -> str:
    """The instance name the agent gives this process (`reviews-v2-0`), else the host name."""
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


def service_url(service: str, default_port: int = 9080) -> str:
    """Base URL of a peer service, with Istio's overrides: `<NAME>_HOSTNAME`,
    `<NAME>_SERVICE_PORT` and `SERVICES_DOMAIN` (`http://details:9080` by default)."""
    prefix = service.upper()
    host = os.environ.get(f"{prefix}_HOSTNAME") or service
    domain = os.environ.get("SERVICES_DOMAIN")
    if domain:
        host = f"{host}.{domain}"
    if ":" in host:
        host = f"[{host}]"
    port = os.environ.get(f"{prefix}_SERVICE_PORT") or str(default_port)
    return f"http://{host}:{port}"


# Headers an app copies from its inbound request onto its outbound calls so the mesh can tie the
# spans of one user request together (Istio's Bookinfo list), plus the user's context.
PROPAGATED_HEADERS = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)


def pick_headers(request: Request, names: Iterable[str]) -> dict[str, str]:
    """The subset of the request's headers named in `names` (case-insensitive), for forwarding."""
    picked: dict[str, str] = {}
    for name in names:
        value = request.header(name)
        if value is not None:
            picked[name] = value
    return picked


@dataclass(frozen=True)
class UpstreamReply:
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


_OPENER = urllib.request.build_opener()  # ProxyHandler from HTTP_PROXY / http_proxy / no_proxy


def http_get(url: str, headers: Mapping[str, str], timeout: float) -> UpstreamReply:
    """GET `url` (through $HTTP_PROXY when set); never raises."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        with _OPENER.open(request, timeout=timeout) as reply:
            return UpstreamReply(reply.status, reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return UpstreamReply(error.code, error.read())
    except (OSError, ValueError, http.client.HTTPException):
        return UpstreamReply(0)
