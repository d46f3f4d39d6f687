"""The jwt-server sample for pilotfish: Istio's `registry.istio.io/testing/jwt-server` image
(Istio's `samples/jwt-server/src/main.go`), which `samples/jwt-server/jwt-server.yaml` runs, so
that file applies unchanged.

Every request is answered 200 with the same JSON Web Key Set (Istio's test key, kid
`tT_w9LRNrY7wJalGsTYSt7rutZi86Gvyc0EKR4CaQAw`), after `?delay=` (a Go duration: `2s`,
`500ms`) when given; a delay that does not parse is 400 `Invalid delay parameter`. Served over
HTTP on `-http` (8000) and, when `-cert` and `-key` are both given, over HTTPS on `-https`
(8443). The certificate and key are read from their files, or, in local mode, from the pod's
mounted Secret (`PILOTFISH_FILES`, `pilotfish.registry.config_volumes`). Flags in Go's syntax
(`-https 8443`, `--cert=/path`). A port the agent maps (`PORT_<port>`) is served at the
agent's port, on `$HOST`. Log lines as Istio's server writes them (Go's `log` prefix).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import (
    Request,
    Response,
    go_flags,
    go_log,
    make_server,
    serve_until_signalled,
    text_response,
)

JWKS = (
    '{ "keys":[ {"e":"AQAB","kid":"tT_w9LRNrY7wJalGsTYSt7rutZi86Gvyc0EKR4CaQAw","kty":"RSA",'
    '"n":"raJ7ZEhMfrBUo2werGKOow9an1B6Ukc6dKY2hNi10eaQe9ehJCjLpmJpePxoqaCi2VYt6gncLfhEV71JDGso'
    "dbfYMlaxwWTt6lXBcjlVXHWDXLC45rHVfi9FjSSXloHqmSStpjv3mrW3R6fx2VeVVP_mrA6ZHtcynq6ecJqO11STvV"
    "oeeM3lEsASVSWsUrKltC1Crfo0sI7YG34QjophVTEi8B9gVepAJZV-Bso5sinRABnxfLUM7DU5c8MO114uvXThgSIuA"
    'OM9PbViSC3X6Y9Gsjsy881HGO-EJaUCrwSWnwQW5sp0TktrYL70-M4_ug-X51Yt_PErmncKupx8Hw"}]}'
)
FLAGS = {"http": "8000", "https": "8443", "cert": "", "key": ""}
FILES_ENV = "PILOTFISH_FILES"  # pilotfish.registry.config_volumes
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration (`1h2m`, `1.5s`, `300ms`, `0`), None when it does not parse."""
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _DURATION.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        return None
    return sign * sum(float(n) * _UNITS[u] for n, u in parts)


def route(request: Request) -> Response:
    delay = (request.query.get("delay") or [""])[0]
    if delay:
        seconds = go_duration(delay)
        if seconds is None:
            return text_response("Invalid delay parameter", 400)
        if seconds > 0:
            time.sleep(seconds)
    return text_response(JWKS)


def read_file(path: str) -> str | None:
    """A file's text: on disk, else the pod's mounted file from PILOTFISH_FILES."""
    try:
        return Path(path).read_text()
    except OSError:
        mounted = json.loads(os.environ.get(FILES_ENV) or "{}")
        value = mounted.get(path) if isinstance(mounted, dict) else None
        return value if isinstance(value, str) else None


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    texts = [read_file(cert), read_file(key)]
    if texts[0] is None or texts[1] is None:
        missing = cert if texts[0] is None else key
        go_log(f"Failed to start HTTPS server: open {missing}: no such file or directory")
        raise SystemExit(1)
    with tempfile.TemporaryDirectory() as folder:  # ssl loads PEM from files only
        paths = [Path(folder) / "server.crt", Path(folder) / "server.key"]
        for path, text in zip(paths, texts, strict=True):
            path.touch(mode=0o600)
            path.write_text(text)
        context.load_cert_chain(str(paths[0]), str(paths[1]))
    return context


def _port(container: str) -> int:
    return int(os.environ.get(f"PORT_{container}") or container)


def main() -> None:
    flags = go_flags(sys.argv[1:], FLAGS)
    host = os.environ.get("HOST", "0.0.0.0")
    servers = [make_server(route, host, _port(flags["http"]), quiet=True)]
    go_log(f"Starting HTTP server at {host}:{servers[0].server_address[1]}")
    if flags["cert"] and flags["key"]:
        context = tls_context(flags["cert"], flags["key"])
        secure = make_server(route, host, _port(flags["https"]), quiet=True)
        # the handshake happens in the request's thread, not in the accepting one
        secure.socket = context.wrap_socket(
            secure.socket, server_side=True, do_handshake_on_connect=False
        )
        servers.append(secure)
        go_log(f"Starting HTTPS server on port :{flags['https']}")
    serve_until_signalled(servers, lambda: None)
    go_log("Stopped JWT HTTP server")


if __name__ == "__main__":
    main()
