"""grpc-echo for pilotfish: a gRPC server (grpcio, no generated code: messages are raw bytes)
with two methods of the service `pilotfish.Echo`:

- `Call` (unary): answers `<prefix> <message>`;
- `Stream` (bidirectional): answers every message it reads the same way, so a client sends and
  receives as many messages as it likes (what Istio's gRPC message-count metrics count).

Usage: `python grpc_echo.py PREFIX`. Listens on 127.0.0.1 at `PORT` (default 7070), plaintext
HTTP/2 (the sidecar adds mTLS). Stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

SERVICE = "pilotfish.Echo"


def main() -> None:
    prefix = (sys.argv[1] if len(sys.argv) > 1 else "one").encode() + b" "

    def call(message: bytes, _: Any) -> bytes:
        return prefix + message

    def stream(messages: Iterator[bytes], _: Any) -> Iterator[bytes]:
        for message in messages:
            yield prefix + message

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Call": grpc.unary_unary_rpc_method_handler(call),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    host = os.environ.get("HOST", "127.0.0.1")
    server.add_insecure_port(f"{host}:{os.environ.get('PORT', '7070')}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(1).wait()


if __name__ == "__main__":
    main()
