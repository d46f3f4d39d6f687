"""Running one probe once, as the kubelet's probers do, and saying what failed in the kubelet's
words (what `kubectl describe pod` shows after "Liveness probe failed: "):

- `http` (httpGet): any status from 200 to 399 passes (a redirect is not followed: a success);
  headers from `httpHeaders`, `User-Agent: kube-probe/…`; an HTTPS certificate is not verified.
  A failure is `HTTP probe failed with statuscode: N`, or the request's error
  (`Get "http://IP:PORT/path": dial tcp IP:PORT: connect: connection refused`);
- `tcp` (tcpSocket): a connection (`dial tcp IP:PORT: connect: connection refused`);
- `grpc`: the gRPC health protocol's Check answering SERVING (`service unhealthy (responded
  with "NOT_SERVING")`, `timeout: failed to connect service …`);
- `exec`: the command's exit code 0; its output (stdout and stderr) is the failure's words.

Also `rewritten`: a probe as Istio's injector rewrites it (`pkg/kube/inject/app_probe.go`): an
HTTP GET of `/app-health/<container>/<endpoint>` on the agent's 15020, which runs the original
there (`Agent.app_health`) and answers with the app's own status (a redirect: 200), or 200/500
for a TCP or gRPC probe, so one code path runs all three kinds of probe.

Owns `check`, `run_exec`, `run_probe` (a yes/no `check`) and `rewritten`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pilotfish.agent.ports import MERGED_PORT
from pilotfish.registry.workloads import Probe

USER_AGENT = "kube-probe/1.34"
MAX_OUTPUT = 10 * 1024  # the kubelet keeps at most 10 KiB of an exec probe's output
_GRPC_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


@dataclass(frozen=True)
class Outcome:
    """One run of a probe: passed or not, the kubelet's words for a failure, and the HTTP
    status the app answered (0: none), which the agent's `/app-health/…` hands back."""

    ok: bool
    output: str = ""
    status: int = 0


def rewritten(probe: Probe) -> Probe:
    """The probe the kubelet runs once Istio's injector has rewritten it: an HTTP GET of
    `/app-health/<container>/<endpoint>` on the agent's status port (HTTPS becomes HTTP; an
    httpGet keeps its headers), with the original's timing."""
    headers = probe.headers if probe.kind == "http" else ()
    path = f"/app-health/{probe.container}/{probe.endpoint}"
    return replace(probe, kind="http", port=MERGED_PORT, path=path, scheme="HTTP",
                   headers=headers, service="")  # fmt: skip


async def run_probe(probe: Probe, host: str, port: int) -> bool:
    """True when the probe (http, tcp or grpc) passes against the app at host:port."""
    return (await check(probe, host, port)).ok


async def check(probe: Probe, host: str, port: int) -> Outcome:
    """Run an http, tcp or grpc probe once against host:port, within its timeoutSeconds (an
    exec probe fails here: it runs in its container, `run_exec`)."""
    timeout = probe.timeout_seconds
    if probe.kind == "exec":  # a command in the container, never a request (`run_exec`)
        return Outcome(False, "exec probes run in their container")
    if probe.kind == "tcp":
        return await _tcp(host, port, timeout)
    if probe.kind == "grpc":
        return await _grpc(probe, host, port)
    url = f"{probe.scheme.lower()}://{_join(host, port)}{probe.path}"
    try:
        status = await asyncio.wait_for(_http_get(probe, host, port), timeout)
    except TimeoutError:
        why = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        return Outcome(False, f'Get "{url}": {why}')
    except (OSError, ssl.SSLError, ValueError) as exc:
        return Outcome(False, f'Get "{url}": {_dial_error(exc, host, port)}')
    if 200 <= status < 400:
        return Outcome(True, status=status)
    return Outcome(False, f"HTTP probe failed with statuscode: {status}", status)


async def run_exec(
    probe: Probe, argv: Sequence[str], env: Mapping[str, str], cwd: str | None
) -> Outcome:
    """An exec probe: `argv` (its command, already placed in the container: its namespace)
    with the container's env and folder; exit code 0 passes; the output is the failure's
    words (a command that runs past timeoutSeconds is killed and fails)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return Outcome(False, f"{argv[0]}: {exc.strerror}")
    try:
        output, _ = await asyncio.wait_for(process.communicate(), probe.timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        words = " ".join(probe.command)
        return Outcome(False, f'command "{words}" timed out')
    text = output[:MAX_OUTPUT].decode("utf-8", "replace")
    return Outcome(process.returncode == 0, "" if process.returncode == 0 else text)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dial_error(exc: BaseException, host: str, port: int) -> str:
    """Go's words for a failed connection or exchange."""
    where = f"dial tcp {_join(host, port)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connect: connection refused"
    if isinstance(exc, ConnectionResetError):
        return "read: connection reset by peer"
    if isinstance(exc, asyncio.IncompleteReadError | EOFError) or (
        isinstance(exc, ValueError) and "EOF" in str(exc)
    ):
        return "EOF"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{where}: connect: no route to host"
    return f"{where}: {exc}"


async def _tcp(host: str, port: int, timeout: float) -> Outcome:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return Outcome(False, f"dial tcp {_join(host, port)}: i/o timeout")
    except OSError as exc:
        return Outcome(False, _dial_error(exc, host, port))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(True)


async def _http_get(probe: Probe, host: str, port: int) -> int:
    """The status the app answers to the probe's GET."""
    context: ssl.SSLContext | None = None
    if probe.scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        given = {name.lower() for name, _ in probe.headers}
        lines = [f"GET {probe.path} HTTP/1.1"]
        if "host" not in given:
            lines.append(f"Host: {_join(host, port)}")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        lines += [f"{name}: {value}" for name, value in probe.headers]
        lines += ["Accept: */*", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        await writer.drain()
        line = await reader.readline()
        if not line:
            raise ValueError("EOF")
        status = line.decode("latin-1").split()
        if len(status) < 2 or not status[1].isdigit():
            raise ValueError(f"malformed HTTP response {line[:40]!r}")
        return int(status[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _grpc(probe: Probe, host: str, port: int) -> Outcome:
    """The gRPC health protocol's Check (grpc.health.v1.Health), as the kubelet asks it."""
    import grpc  # the agent's own dependency; only gRPC probes need it here

    address, timeout = _join(host, port), probe.timeout_seconds
    service = probe.service.encode()
    request = (b"\x0a" + _varint(len(service)) + service) if service else b""
    options = [("grpc.primary_user_agent", USER_AGENT), ("grpc.enable_http_proxy", 0)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            return Outcome(False, f'timeout: failed to connect service "{address}" within '
                           f"{timeout}s: context deadline exceeded")  # fmt: skip
        call = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            answer = await call(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return Outcome(False, "error: this server does not implement the grpc health "
                               f"protocol (grpc.health.v1.Health): {exc.details()}")  # fmt: skip
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(False, f"timeout: health rpc did not complete within {timeout}s")
            return Outcome(False, f"error: health rpc probe failed: rpc error: code = "
                           f"{_go_code(code)} desc = {exc.details()}")  # fmt: skip
    status = _GRPC_STATUS.get(_field_one(bytes(answer)), "UNKNOWN")
    if status == "SERVING":
        return Outcome(True)
    return Outcome(False, f'service unhealthy (responded with "{status}")')


def _go_code(code: object) -> str:
    name = str(getattr(code, "name", code))
    return "".join(part.capitalize() for part in name.split("_"))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_one(message: bytes) -> int:
    """HealthCheckResponse.status (field 1, a varint); 0 when absent."""
    if len(message) >= 2 and message[0] == 0x08:
        return message[1] & 0x7F
    return 0
