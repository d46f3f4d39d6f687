"""fortio for pilotfish: the subset of fortio (fortio.org) that Istio's tasks run.

Owns three subcommands, with fortio's flags and output lines:
- `fortio server`: the container's program; answers every request on $HOST:$PORT and on every
  other port the agent gives it (echo), so its service has a ready backend, except fortio's
  gRPC port 8079 (`PORT_8079`), where, as fortio's ping server, it serves gRPC's health
  protocol (grpc.health.v1.Health `Check`: SERVING for the server, "", and fortio's service
  "ping"; any other service is gRPC's NotFound "unknown service", as grpc-go's health server
  answers). That port needs grpcio (pilotfish's interpreter has it); the rest is standard
  library.
- `fortio load [-c 4] [-qps 8] [-n CALLS | -t 5s] [-H 'k: v'] [-timeout 3s] [-loglevel L] URL`:
  CALLS requests over `-c` keep-alive connections (`-qps 0`: as fast as possible) through
  $HTTP_PROXY as fortio does, then fortio's summary: the time histogram, percentiles,
  `Sockets used`, and one `Code NNN : COUNT (P %)` line per status.
- `fortio curl [-quiet] [-H 'k: v'] URL`: one request; prints status line, headers and body.
  `fortio load -curl URL` (the circuit-breaking task's first call) is the same single request,
  whatever other load flags it carries, as fortio's `-curl` ("just fetch the content once").

Istio's circuit-breaking task runs `kubectl exec FORTIO_POD -c fortio -- /usr/bin/fortio load -c
2 -qps 0 -n 20 -loglevel Warning http://httpbin:8000/get`; `pilotfish exec` runs this file for
`fortio` and `/usr/bin/fortio`. Standard library only.
"""

from __future__ import annotations

import http.client
import math
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common"))

from sample_server import Request, Response, make_server, serve, text_response

VERSION = "1.x (pilotfish sample)"
LEVELS = {"debug": 0, "verbose": 1, "info": 2, "warning": 3, "error": 4, "critical": 5}
PERCENTILES = (50, 75, 90, 99, 99.9)
BUCKETS = [x / 1000 for x in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 25, 30)]
BUCKETS += [x / 100 for x in (4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50)]
BUCKETS += [x / 10 for x in (6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200, 500)]


class UsageError(Exception):
    pass


class Client:
    """One fortio connection: keep-alive HTTP/1.1, through $HTTP_PROXY when set (fortio honours
    it), reconnecting when the server closes. `sockets` counts the connections opened."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        self.url, self.headers, self.timeout = url, headers, timeout
        parts = urllib.parse.urlsplit(url)
        proxy = urllib.request.getproxies().get(parts.scheme or "http")
        if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
            target = urllib.parse.urlsplit(proxy)
            self.address, self.path = target.netloc, url
        else:
            self.address, self.path = (
                parts.netloc,
                (parts.path or "/") + ("?" + parts.query if parts.query else ""),
            )
        self.host = parts.netloc
        self.conn: http.client.HTTPConnection | None = None
        self.sockets = 0

    def call(self) -> tuple[int, http.client.HTTPResponse | None, bytes]:
        """(status, response, body); status -1 when the request failed on the socket."""
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.address, timeout=self.timeout)
                self.sockets += 1
            try:
                self.conn.request("GET", self.path, headers={"Host": self.host, **self.headers})
                resp = self.conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return -1, None, b""
                continue
            if resp.will_close:
                self.close()
            return resp.status, resp, body
        return -1, None, b""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def parse(argv: list[str], flags: dict[str, str], switches: set[str]) -> tuple[dict[str, str], str]:
    """fortio's flags (`-c 2`, `-c=2`, `--c 2`; `-H` repeats) and the one URL argument."""
    values = dict(flags)
    headers: list[str] = []
    url = ""
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg == "-":
            if url:
                raise UsageError(f"only one URL expected, got {url!r} and {arg!r}")
            url = arg
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in switches:
            values[name] = "true"
            continue
        if name not in flags and name != "H":
            raise UsageError(f"flag provided but not defined: -{name}")
        if not eq:
            if not args:
                raise UsageError(f"flag needs an argument: -{name}")
            value = args.pop(0)
        if name == "H":
            headers.append(value)
        else:
            values[name] = value
    if not url:
        raise UsageError("an URL is required")
    values["H"] = "\n".join(headers)
    return values, url


def header_dict(lines: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines.splitlines() if line)
    return {k.strip(): v.strip() for k, _, v in pairs}


def seconds(text: str) -> float:
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * scale
    return float(text)


def load(argv: list[str]) -> int:
    defaults = {"c": "4", "qps": "8", "n": "0", "t": "5s", "timeout": "3s", "loglevel": "info"}
    opts, url = parse(argv, defaults, {"quiet", "curl"})
    if opts.get("curl") == "true":
        return fetch(url, header_dict(opts["H"]), seconds(opts["timeout"]))
    threads, qps, calls = int(opts["c"]), float(opts["qps"]), int(opts["n"])
    duration = 0.0 if calls else seconds(opts["t"])
    warn = LEVELS.get(opts["loglevel"].lower(), 2) <= LEVELS["warning"]
    headers, timeout = header_dict(opts["H"]), seconds(opts["timeout"])
    clients = [Client(url, headers, timeout) for _ in range(threads)]
    per_thread = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
    rate = "max qps" if qps <= 0 else f"{qps:g} qps"
    what = f"{calls} calls" if calls else f"{duration:g}s"
    print(f"Fortio {VERSION} running at {qps:g} queries per second, for {what}: {url}")
    exactly = f"exactly {calls} calls ({calls // threads} per thread + {calls % threads})"
    print(f"Starting at {rate} with {threads} thread(s) for {exactly if calls else what}")
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    start = time.monotonic()

    def run(client: Client, count: int) -> None:
        done = 0
        while (done < count) if calls else (time.monotonic() - start < duration):
            if qps > 0:  # each thread keeps its share of the rate
                time.sleep(max(0.0, start + done * threads / qps - time.monotonic()))
            t0 = time.monotonic()
            status, _, _ = client.call()
            elapsed = time.monotonic() - t0
            if status != 200 and warn:
                print(f"[W] Non ok http code {status}", file=sys.stderr)
            with lock:
                results.append((status, elapsed))
            done += 1
        client.close()

    workers = [
        threading.Thread(target=run, args=(c, n)) for c, n in zip(clients, per_thread, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.monotonic() - start
    times = [t for _, t in results]
    total = len(times)
    print(f"Ended after {wall * 1000:.4f}ms : {total} calls. qps={total / wall:.5g}")
    if times:
        print("Aggregated Function Time : " + stats(times))
        histogram(times)
    print("Error cases : " + (stats([t for s, t in results if s != 200]) or "no data"))
    sockets = sum(c.sockets for c in clients)
    print(f"Sockets used: {sockets} (for perfect keepalive, would be {threads})")
    codes = Counter(s for s, _ in results)
    for status in sorted(codes):
        print(f"Code {status} : {codes[status]} ({100.0 * codes[status] / total:.1f} %)")
    avg = sum(times) / total * 1000 if total else 0.0
    print(f"All done {total} calls (plus 0 warmup) {avg:.3f} ms avg, {total / wall:.1f} qps")
    return 0


def stats(values: list[float]) -> str:
    """fortio's `count N avg A +/- D min X max Y sum S` ("" for no values)."""
    if not values:
        return ""
    n = len(values)
    avg = sum(values) / n
    dev = (sum((t - avg) ** 2 for t in values) / n) ** 0.5
    return (
        f"count {n} avg {avg:.8g} +/- {dev:.4g} "
        f"min {min(values):.8g} max {max(values):.8g} sum {sum(values):.8g}"
    )


def histogram(times: list[float]) -> None:
    """fortio's histogram of the call times and its percentiles."""
    n = len(times)
    print("# range, mid point, percentile, count")
    ordered = sorted(times)
    low, seen = 0.0, 0
    for high in [*BUCKETS, float("inf")]:
        count = sum(1 for t in ordered if low <= t < high)
        if count:
            seen += count
            top = min(high, ordered[-1])
            start = max(low, ordered[0])
            mid = (start + top) / 2
            print(f">= {start:.6g} <= {top:.6g} , {mid:.6g} , {100 * seen / n:.2f}, {count}")
        low = high
    for p in PERCENTILES:
        index = min(n - 1, max(0, math.ceil(p / 100 * n) - 1))  # nearest rank
        print(f"# target {p:g}% {ordered[index]:.6g}")


def curl(argv: list[str]) -> int:
    opts, url = parse(argv, {"timeout": "3s", "loglevel": "info"}, {"quiet"})
    return fetch(url, header_dict(opts["H"]), seconds(opts["timeout"]))


def fetch(url: str, headers: dict[str, str], timeout: float) -> int:
    """One request, printed as fortio prints it: status line, headers, blank line, body."""
    client = Client(url, headers, timeout)
    status, resp, body = client.call()
    client.close()
    if resp is None:
        print(f"[E] fortio curl {url}: request failed", file=sys.stderr)
        return 1
    version = "HTTP/1.1" if resp.version == 11 else "HTTP/1.0"
    sys.stdout.write(f"{version} {status} {resp.reason}\r\n")
    for name, value in resp.getheaders():
        sys.stdout.write(f"{name.lower()}: {value}\r\n")
    sys.stdout.write("\r\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return 0 if status == 200 else 1


def route(request: Request) -> Response:
    pod = os.environ.get("POD_NAME", "")
    return text_response(f"{request.method} {request.path} echo from fortio {pod}\n")


GRPC_PORT = "8079"  # fortio's -grpc-port
SERVING = ("", "ping")  # the services fortio's health server marks SERVING


def health_check(request: bytes, context: Any) -> bytes:
    """grpc.health.v1.Health/Check on raw bytes: HealthCheckRequest {string service = 1};
    HealthCheckResponse {ServingStatus status = 1} (SERVING is 1)."""
    import grpc

    service = _field_one(request)
    if service not in SERVING:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return b"\x08\x01"


def _field_one(message: bytes) -> str:
    """Field 1 (a string) of a protobuf message, or "" (a short name: one length byte)."""
    if len(message) >= 2 and message[0] == 0x0A and message[1] < 0x80:
        return message[2 : 2 + message[1]].decode(errors="replace")
    return ""


def grpc_server(host: str, port: int) -> Any:
    """fortio's ping server: here, its gRPC health service (started; the caller keeps it)."""
    from concurrent import futures

    import grpc

    health = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(health_check)}
    )
    served = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    served.add_generic_rpc_handlers((health,))
    served.add_insecure_port(f"{host}:{port}")
    served.start()
    return served


def server() -> None:
    """HTTP on $PORT (8080) and on every other port the agent gives, gRPC's health protocol on
    fortio's gRPC port (`PORT_8079`): every container port accepts connections."""
    host = os.environ.get("HOST", "127.0.0.1")
    main_port = os.environ.get("PORT", "")
    kept = []
    for name, value in sorted(os.environ.items()):
        if name == f"PORT_{GRPC_PORT}" and value != main_port:
            kept.append(grpc_server(host, int(value)))
        elif name.startswith("PORT_") and value != main_port:
            extra = make_server(route, host, int(value))
            threading.Thread(target=extra.serve_forever, daemon=True).start()
    try:
        serve(route, default_port=8080)
    finally:
        for served in kept:
            served.stop(0)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    try:
        if command == "load":
            return load(rest)
        if command == "curl":
            return curl(rest)
        if command == "server":
            server()
            return 0
        if command == "version":
            print(VERSION)
            return 0
    except (UsageError, ValueError) as exc:
        print(f"fortio {command}: {exc}", file=sys.stderr)
        return 1
    print("usage: fortio load|curl|server|version [flags] [url]  (a subset)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
