"""The ext-authz sample for pilotfish: an external authorizer with Istio's `samples/extauthz`
behaviour, for the CUSTOM AuthorizationPolicy task ("External Authorization"). Istio's images
(`registry.istio.io/testing/ext-authz`, `gcr.io/istio-testing/ext-authz`) run it, so Istio's
`samples/extauthz/ext-authz.yaml` applies unchanged.

Two check APIs, as Envoy's ext_authz filter calls them:
- HTTP (container port 8000): any request. Allowed (200) when it carries `x-ext-authz: allow`,
  else denied: 403 with the body "denied by ext_authz for not found header `x-ext-authz: allow`
  in the request". Both answers carry `x-ext-authz-check-result: allowed|denied`, echo
  `x-ext-authz-additional-header-override`, and `x-ext-authz-check-received` (what was checked).
- gRPC (container port 9000): `envoy.service.auth.v3.Authorization/Check` (and v2's). The same
  decision on the request's `x-ext-authz` header; without that header, a caller whose mTLS
  principal ends with `/sa/<allow_service_account>` (default `a`) is allowed. Allowed answers
  add `x-ext-authz-check-result: allowed` for the upstream; denied ones answer 403 with the
  body above and `x-ext-authz-check-result: denied`.

Flags as Istio's server takes them (Go's flag syntax, `-http 8000` or `--http=8000`): `-http`,
`-grpc` (the container ports), `-allow_service_account`. A port the agent maps
(`PORT_<port>`) is served at the agent's port, on `$HOST`. Every line is logged to stdout as
Istio's server logs it (Go's `log` prefix, `[HTTP][allowed]: GET host/path, headers: map[...],
body: [...]`, `[gRPCv3][denied]: host/path, attributes: ...`).
"""

from __future__ import annotations

import os
import sys
from concurrent import futures
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from envoy.api.v2.core import base_pb2 as base_v2
from envoy.config.core.v3 import base_pb2 as base_v3
from envoy.service.auth.v2 import external_auth_pb2 as auth_v2
from envoy.service.auth.v2 import external_auth_pb2_grpc as grpc_v2
from envoy.service.auth.v3 import external_auth_pb2 as auth_v3
from envoy.service.auth.v3 import external_auth_pb2_grpc as grpc_v3
from envoy.type import http_status_pb2 as status_v2
from envoy.type.v3 import http_status_pb2 as status_v3
from google.protobuf import text_format
from google.rpc import code_pb2, status_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, go_flags, make_server, serve_until_signalled
from sample_server import go_log as log

CHECK_HEADER = "x-ext-authz"
ALLOWED_VALUE = "allow"
RESULT_HEADER = "x-ext-authz-check-result"
RECEIVED_HEADER = "x-ext-authz-check-received"
OVERRIDE_HEADER = "x-ext-authz-additional-header-override"
OVERRIDE_GRPC_VALUE = "grpc-additional-header-override-value"
DENY_BODY = (
    f"denied by ext_authz for not found header `{CHECK_HEADER}: {ALLOWED_VALUE}` in the request"
)
MAX_HEADER = 60000  # Envoy refuses larger headers: such a value is replaced by <too-long>
FLAGS = {"http": "8000", "grpc": "9000", "allow_service_account": "a"}


def _short(text: str) -> str:
    return "<too-long>" if len(text) > MAX_HEADER else text


def _go_headers(request: Request) -> str:
    """The headers as Go prints an `http.Header`: `map[Accept:[*/*] X-Ext-Authz:[allow]]`."""
    merged: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower() == "host":
            continue
        canonical = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        merged.setdefault(canonical, []).append(value)
    items = " ".join(f"{k}:[{' '.join(v)}]" for k, v in sorted(merged.items()))
    return f"map[{items}]"


def http_check(request: Request) -> Response:
    """The HTTP check API: Envoy forwards the request (headers it allows) to this server."""
    body = _short(request.body.decode("utf-8", "replace"))
    seen = (
        f"{request.method} {request.header('host') or ''}{request.target}, "
        f"headers: {_go_headers(request)}, body: [{body}]"
    )
    allowed = request.header(CHECK_HEADER) == ALLOWED_VALUE
    result = "allowed" if allowed else "denied"
    log(f"[HTTP][{result}]: {seen}")
    headers = (
        (RESULT_HEADER, result),
        (OVERRIDE_HEADER, request.header(OVERRIDE_HEADER) or ""),
        (RECEIVED_HEADER, _short(seen).replace("\r", " ").replace("\n", " ")),
    )
    if allowed:
        return Response(200, b"", headers=headers)
    return Response(403, DENY_BODY.encode(), headers=headers)


class Authorizer:
    """The gRPC check API of one version (v2 or v3: the same shapes in other packages)."""

    def __init__(self, version: str, service_account: str) -> None:
        self.version = version
        self.service_account = service_account
        self.auth: ModuleType = auth_v3 if version == "v3" else auth_v2
        self.base: ModuleType = base_v3 if version == "v3" else base_v2
        self.status: ModuleType = status_v3 if version == "v3" else status_v2

    def _option(self, key: str, value: str) -> Any:
        return self.base.HeaderValueOption(header=self.base.HeaderValue(key=key, value=value))

    def Check(self, request: Any, context: Any) -> Any:
        attributes = request.attributes
        http = attributes.request.http
        if CHECK_HEADER in http.headers:
            allowed = http.headers[CHECK_HEADER] == ALLOWED_VALUE
        else:
            allowed = attributes.source.principal.endswith(f"/sa/{self.service_account}")
        result = "allowed" if allowed else "denied"
        dump = text_format.MessageToString(attributes, as_one_line=True)
        log(f"[gRPC{self.version}][{result}]: {http.host}{http.path}, attributes: {dump}")
        headers = [
            self._option(RESULT_HEADER, result),
            self._option(RECEIVED_HEADER, _short(dump)),
            self._option(OVERRIDE_HEADER, OVERRIDE_GRPC_VALUE),
        ]
        if allowed:
            return self.auth.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=self.auth.OkHttpResponse(headers=headers),
            )
        return self.auth.CheckResponse(
            status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED),
            denied_response=self.auth.DeniedHttpResponse(
                status=self.status.HttpStatus(code=self.status.Forbidden),
                body=DENY_BODY,
                headers=headers,
            ),
        )


def _port(container: str) -> int:
    """The port to listen on: the agent's for that container port, else the port itself."""
    return int(os.environ.get(f"PORT_{container}") or container)


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main() -> None:
    flags = go_flags(sys.argv[1:], FLAGS)
    host = os.environ.get("HOST", "0.0.0.0")
    web = make_server(http_check, host, _port(flags["http"]), quiet=True)
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    account = flags["allow_service_account"]
    grpc_v2.add_AuthorizationServicer_to_server(Authorizer("v2", account), rpc)
    grpc_v3.add_AuthorizationServicer_to_server(Authorizer("v3", account), rpc)
    grpc_port = rpc.add_insecure_port(_shown(host, _port(flags["grpc"])))
    rpc.start()
    log(f"Starting HTTP server at {_shown(host, web.server_address[1])}")
    log(f"Starting gRPC server at {_shown(host, grpc_port)}")

    def stopping() -> None:
        rpc.stop(grace=1).wait()
        log("GRPC server stopped")

    serve_until_signalled([web], stopping)
    log("HTTP server stopped: <nil>")


if __name__ == "__main__":
    main()
