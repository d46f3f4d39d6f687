"""sleep for pilotfish: the client workload you `pilotfish exec` into; it does nothing else.

Owns: waiting for SIGTERM. When $PORT is set (the agent always sets it) it also answers every
request on $HOST:$PORT with `200 sleep` so that its service has a ready backend.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))

from sample_server import Request, Response, serve, text_response


def route(request: Request) -> Response:
    return text_response("sleep\n")


def wait_for_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    if os.environ.get("PORT"):
        serve(route, default_port=80)
    else:
        wait_for_sigterm()
