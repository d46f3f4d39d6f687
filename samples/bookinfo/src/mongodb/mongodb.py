"""Bookinfo's ratings database (Istio's `examples-bookinfo-mongodb` image) for pilotfish: a TCP
server on $HOST:$PORT (27017) holding the `test.ratings` collection Istio's image imports
(`{rating: 5}`, `{rating: 4}`).

Not MongoDB's wire protocol: its one client is Bookinfo's ratings v2 (`ratings.py`), which sends
`find <db>.<collection>` on a line and reads the documents back as one line of JSON. What the
mesh sees is what Istio's TCP metrics task measures: a TCP connection per ratings request,
bytes each way. Arguments (the manifest's `--ipv6 --bind_ip_all`) are accepted and ignored.
Stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socketserver
from types import FrameType

COLLECTIONS = {"test.ratings": [{"rating": 5}, {"rating": 4}]}


class _Database(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            command, _, name = raw.decode(errors="replace").strip().partition(" ")
            if command == "find":
                reply = {"ok": 1, "documents": COLLECTIONS.get(name, [])}
            else:
                reply = {"ok": 0, "errmsg": f"no such command: '{command}'"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT_27017") or os.environ.get("PORT") or 27017)
    server = _Server((host, port), _Database)
    print(f"waiting for connections on {host}:{server.server_address[1]}", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
