"""Helpers for the sample-app tests: run the real apps as subprocesses on loopback, no mesh.

Each app is started with `HOST` = a random 127.x.y.z address and `PORT=0` (the app prints the
port the kernel gave it), with a clean environment (no proxy variables) plus the test's overrides
(`DETAILS_HOSTNAME`, `RATINGS_SERVICE_PORT`, ...). The fixtures in conftest.py stop whatever
these start.
`RecordingServer` is an in-process backend that records what it was sent and answers from a
script, standing in for a peer service when a test needs to see the forwarded headers.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BOOKINFO_SRC = SAMPLES / "bookinfo" / "src"
START_TIMEOUT_SECONDS = 10.0
_SCRUBBED_PREFIXES = ("DETAILS_", "RATINGS_", "REVIEWS_", "PRODUCTPAGE_")
_SCRUBBED = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SERVICES_DOMAIN",
    "POD_NAME",
    "SERVICE_VERSION",
    "ENABLE_RATINGS",
    "STAR_COLOR",
    "CLUSTER_NAME",
    "HOST",
    "PORT",
}


def random_loopback() -> str:
    """A random 127.x.y.z address, so parallel runs do not collide on ports."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def clean_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in _SCRUBBED and not k.upper().startswith(_SCRUBBED_PREFIXES)
    }
    env.update(overrides)
    return env


@dataclass
class App:
    """One running sample app."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Any  # the temporary file that receives stderr

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return str(self.log.read().decode("utf-8", "replace"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()


class AppRunner:
    """Starts sample apps and stops all of them in `stop_all`."""

    def __init__(self) -> None:
        self.apps: list[App] = []

    def start(self, script: Path, env: Mapping[str, str] | None = None) -> App:
        host = random_loopback()
        log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the app; App.stop closes it)
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=script.parent,
            env=clean_env({"HOST": host, "PORT": "0", **(env or {})}),
            stdout=subprocess.PIPE,
            stderr=log,
        )
        app = App(process, host, 0, log)
        self.apps.append(app)
        app.port = _read_port(app)
        return app

    def stop_all(self) -> None:
        while self.apps:
            self.apps.pop().stop()


def _read_port(app: App) -> int:
    """The port from the app's `listening on http://HOST:PORT` line."""
    assert app.process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([app.process.stdout], [], [], max(remaining, 0))
        if not ready:
            raise AssertionError(f"app did not start in time; log:\n{app.log_text()}")
        chunk = os.read(app.process.stdout.fileno(), 1)
        if not chunk:
            raise AssertionError(f"app exited before listening; log:\n{app.log_text()}")
        line += chunk
    text = line.decode().strip()
    assert text.startswith("listening on http://"), text
    return int(text.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def fetch(
    url: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 20.0,
) -> Reply:
    """One request straight to `url` (no proxy, redirects not followed)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return Reply(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.read(), dict(error.headers.items()))


@dataclass
class RecordingServer:
    """An in-process HTTP backend: records each request, answers from `replies` in turn (the
    last one repeats), after `delay` seconds."""

    replies: list[tuple[int, Any]]
    delay: float = 0.0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    host: str = field(default_factory=random_loopback)
    port: int = 0

    def start(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                index = len(recorder.requests)
                recorder.requests.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                status, value = recorder.replies[min(index, len(recorder.replies) - 1)]
                time.sleep(recorder.delay)
                body = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
