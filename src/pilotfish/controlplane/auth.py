"""Who may change the mesh: the write API (apply, delete, instance reports, token issue) on the
debug port requires `authorization: Bearer <token>`, the token kept in `<state>/admin-token`
(mode 0600, created on first start), which only the mesh's owner can read. Read-only endpoints
(`/debug/*`, `/metrics`, `/ready`, GETs of the config) stay open on loopback, as Istio's 15014
is, but show Secrets' values only to an authenticated caller.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from pilotfish.ca.storage import write_private
from pilotfish.state_files import ADMIN_TOKEN_FILE, read_admin_token

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_path(state_dir: Path) -> Path:
    return state_dir / ADMIN_TOKEN_FILE


def ensure_admin_token(state_dir: Path, name: str = ADMIN_TOKEN_FILE) -> str:
    """The token in `<state>/<name>` (the owner's, or the UI's), created on first use."""
    path = state_dir / name
    existing = read_admin_token(state_dir, name)
    if existing:
        return existing
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


def authenticated(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def write_guard(token: str, state_dir: Path) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in READ_METHODS or authenticated(request, token):
            return await handler(request)
        message = (
            f"unauthenticated write refused: {request.method} {request.path} needs the mesh "
            f"owner's token ({token_path(state_dir)}), which the pilotfish CLI sends"
        )
        return web.json_response(
            {
                "ok": False,
                "error": message,
                "diagnostics": [{"level": "error", "text": message}],
            },
            status=401,
        )

    return guard


def redact_secret(doc: dict[str, object]) -> dict[str, object]:
    """A Secret document with its values replaced by their length (as `kubectl describe`)."""
    if doc.get("kind") != "Secret":
        return doc
    shown = dict(doc)
    for field in ("data", "stringData"):
        values = doc.get(field)
        if isinstance(values, dict):
            shown[field] = {k: f"<redacted: {len(str(v))} bytes>" for k, v in values.items()}
    return shown


def redact_private_key(resource: dict[str, Any]) -> dict[str, Any]:
    """An SDS Secret as a dict, its private key replaced (as Envoy's own config_dump does)."""
    certificate = resource.get("tls_certificate")
    if isinstance(certificate, dict) and "private_key" in certificate:
        resource = dict(resource)
        resource["tls_certificate"] = dict(certificate, private_key={"inline_string": "[redacted]"})
    return resource
