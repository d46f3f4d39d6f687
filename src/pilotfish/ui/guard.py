"""Who may read the web UI (`/ui...`): its pages and JSON show the mesh's traffic, access logs,
traces and config. Istio's dashboards are reached through `istioctl dashboard`'s port-forward
to localhost; pilotfish's UI is, likewise, for the machine the control plane runs on:

- a request from this machine is served: its peer is a loopback address, or the server's own
  address (the host side of an isolated mesh's bridge, 10.A.0.1, talking to itself);
- any other peer (a pod of an isolated mesh, another host when the control plane is bound to a
  routable address) must show the UI token: `?token=` once (answered with a redirect to the same
  URL without it, the token kept in an HttpOnly, SameSite=Strict cookie), the cookie, or
  `Authorization: Bearer`. Forwarding headers (`X-Forwarded-For`, `Forwarded`) are not trusted;
- whatever the peer, the `Host` header must be an IP address or `localhost`: a page of a foreign
  site whose name was re-pointed at this address (DNS rebinding) sends its own name, and is
  refused (403), so a browser cannot be used to read the UI for another site.

The token (`state_files.UI_TOKEN_FILE`, created by the control plane) is read-only: writes to the
mesh need the owner's token (`controlplane.auth`), which this never accepts.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

PREFIX = "/ui"
COOKIE = "pilotfish-ui-token"
LOCAL_NAMES = frozenset({"localhost", "localhost."})
_HOST = re.compile(r"\[(?P<v6>[0-9a-f:.]+)\](?::\d+)?|(?P<name>[^:\[\]]+)(?::\d+)?|[0-9a-f:.]+")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_allowed(host: str) -> bool:
    """True for `IP[:port]`, `[IPv6][:port]` and `localhost[:port]` (no DNS name can be
    re-pointed by a foreign site)."""
    found = _HOST.fullmatch(host.strip().lower())
    if found is None:
        return False
    name = found.group("v6") or found.group("name") or found.group(0)
    if name in LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def local_peer(request: web.Request) -> bool:
    """The TCP peer is this machine: loopback, or the address the server itself listens on."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    own = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(peer, tuple) or not peer:
        return False
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    if address.is_loopback:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None and mapped.is_loopback:
        return True
    return isinstance(own, tuple) and bool(own) and str(peer[0]) == str(own[0])


def _given_token(request: web.Request) -> str:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        return bearer.strip()
    return request.query.get("token") or request.cookies.get(COOKIE, "")


def _refused(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def ui_guard(token: str) -> Middleware:
    """The middleware: applies to `/ui` and everything under it; other paths pass untouched."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return await handler(request)
        host = request.headers.get("Host")
        if host is not None and not host_allowed(host):
            return _refused(403, "the UI answers only to an IP address or localhost as Host")
        if local_peer(request):
            return await handler(request)
        given = _given_token(request)
        if not (token and given and hmac.compare_digest(given.encode(), token.encode())):
            return _refused(
                401,
                "the UI is served to this machine only; from elsewhere, open the URL "
                "`pilotfish dashboard mesh` prints (it carries the UI token)",
            )
        if "token" in request.query:  # keep it out of the address bar and the history
            query = {k: v for k, v in request.query.items() if k != "token"}
            location = request.rel_url.with_query(query)
            response = web.HTTPFound(str(location))
            response.set_cookie(COOKIE, token, path=PREFIX, httponly=True, samesite="Strict")
            return response
        return await handler(request)

    return guard
