"""The ext-authz sample for pilotfish: an external authorizer with Istio's `samples/extauthz`
behaviour, for the CUSTOM AuthorizationPolicy task ("External Authorization").

Two check APIs, as Envoy's ext_authz filter calls them:
- HTTP (container port 8000): any request. Allowed (200) when it carries `x-ext-authz: allow`,
  else denied: 403 with the body "denied by ext_authz for not found header `x-ext-authz: allow`
  in the request". Both answers carry `x-ext-authz-check-result: allowed|denied`, echo
  `x-ext-authz-additional-header-override`, and `x-ext-authz-check-received` (what was checked).
- gRPC (container port 9000): `envoy.service.auth.v3.Authorization/Check`. The same decision on
  the request's `x-ext-authz` header; without that header, a caller whose mTLS principal ends
  with `/sa/<ALLOW_SERVICE_ACCOUNT>` (default `a`, Istio's flag `-allow_service_account`) is
  allowed. Allowed answers add `x-ext-authz-check-result: allowed` for the upstream; denied ones
  answer 403 with the body above and `x-ext-authz-check-result: denied`.

Every decision is logged to stdout as Istio's sample logs it: `[HTTP][allowed]: ...`,
`[gRPCv3][denied]: host/path, ...`. Ports come from the agent (`PORT_8000`, `PORT_9000`, on
`$HOST`), else from argv (`ext_authz.py [HTTP_PORT [GRPC_PORT]]`), else 8000 and 9000.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as auth_pb2
from envoy.service.auth.v3 import external_auth_pb2_grpc as auth_grpc
from envoy.type.v3 import http_status_pb2
from google.rpc import code_pb2, status_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, make_server

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


def _short(text: str) -> str:
    return "<too-long>" if len(text) > MAX_HEADER else text


def http_check(request: Request) -> Response:
    """The HTTP check API: Envoy forwards the request (headers it allows) to this server."""
    headers_seen = dict(request.headers)
    seen = f"{request.method} {request.header('host')}{request.target}, headers: {headers_seen}"
    allowed = request.header(CHECK_HEADER) == ALLOWED_VALUE
    result = "allowed" if allowed else "denied"
    print(f"[HTTP][{result}]: {seen}", flush=True)
    headers = (
        (RESULT_HEADER, result),
        (OVERRIDE_HEADER, request.header(OVERRIDE_HEADER) or ""),
        (RECEIVED_HEADER, _short(seen).replace("\r", " ").replace("\n", " ")),
    )
    if allowed:
        return Response(200, b"", headers=headers)
    return Response(403, DENY_BODY.encode(), headers=headers)


def _option(key: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=key, value=value))


class Authorizer(auth_grpc.AuthorizationServicer):  # type: ignore[misc]
    """The gRPC v3 check API."""

    def __init__(self, service_account: str) -> None:
        self.service_account = service_account

    def Check(self, request: auth_pb2.CheckRequest, context: Any) -> auth_pb2.CheckResponse:
        attributes = request.attributes
        http = attributes.request.http
        if CHECK_HEADER in http.headers:
            allowed = http.headers[CHECK_HEADER] == ALLOWED_VALUE
        else:
            allowed = attributes.source.principal.endswith(f"/sa/{self.service_account}")
        result = "allowed" if allowed else "denied"
        principal = attributes.source.principal
        print(f"[gRPCv3][{result}]: {http.host}{http.path}, principal: {principal!r}", flush=True)
        headers = [
            _option(RESULT_HEADER, result),
            _option(RECEIVED_HEADER, _short(str(attributes)).replace("\n", " ")),
            _option(OVERRIDE_HEADER, OVERRIDE_GRPC_VALUE),
        ]
        if allowed:
            return auth_pb2.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=auth_pb2.OkHttpResponse(headers=headers),
            )
        return auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED),
            denied_response=auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=http_status_pb2.Forbidden),
                body=DENY_BODY,
                headers=headers,
            ),
        )


def _port(container: int, position: int) -> int:
    if f"PORT_{container}" in os.environ:
        return int(os.environ[f"PORT_{container}"])
    return int(sys.argv[position]) if len(sys.argv) > position else container


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    web = make_server(http_check, host, _port(8000, 1))
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    auth_grpc.add_AuthorizationServicer_to_server(
        Authorizer(os.environ.get("ALLOW_SERVICE_ACCOUNT", "a")), rpc
    )
    grpc_port = rpc.add_insecure_port(f"{host}:{_port(9000, 2)}")
    rpc.start()
    threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True).start()
    print(f"Starting HTTP server at {host}:{web.server_address[1]}", flush=True)
    print(f"Starting gRPC server at {host}:{grpc_port}", flush=True)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    web.shutdown()
    web.server_close()
    rpc.stop(grace=1).wait()


if __name__ == "__main__":
    main()
