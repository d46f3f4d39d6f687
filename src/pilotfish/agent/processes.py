"""Child processes that die with their parent, their supervision, and free ports on loopback.

Every process pilotfish starts gets PR_SET_PDEATHSIG, so a killed `pilotfish up` leaves no
orphan Envoys or apps behind, and its own process group, so a stop reaches its children too.
`supervise` restarts a child that exits as the kubelet restarts a container: as the pod's
restartPolicy says, with the kubelet's back-off (`restart_backoff`: at once, then 10 s doubling
to 5 min), and the BackOff event when a restart waits.

Children are started through util-linux's `setpriv` (death signal, group), never with a Python
`preexec_fn` or `group=`: either makes CPython fork() instead of vfork(), and a fork of a process
that runs gRPC runs gRPC's at-fork handlers in the child, whose event-engine threads then abort
the child (SIGABRT, "epoll_wait error: Bad file descriptor") when the fds are closed before exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.agent import container_log
from pilotfish.agent.container_events import EventLog
from pilotfish.agent.restart_backoff import (
    RestartBackOff,
    event_message,
    exit_code,
    waiting_message,
)

log = logging.getLogger("pilotfish.agent")

_PR_SET_PDEATHSIG = 1


@dataclass
class ChildState:
    """A supervised child (a container): its process and what the kubelet reports of it.
    `container` and `pod` name it in the kubelet's messages (`restart_backoff`)."""

    name: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    restarted_at: float | None = None  # epoch seconds of the last restart (`get events`)
    exit_code: int | None = None  # how its last run that ended ended (None: none has)
    finished_at: float | None = None  # epoch seconds of that end
    last_started_at: float | None = None  # epoch seconds that ended run had started
    done: bool = False  # ended for good: its restartPolicy does not restart it
    waiting: str = ""  # while its restart waits for its back-off: the kubelet's message
    container: str = ""  # its name as kubectl shows it (default: `name`)
    pod: str = ""  # its pod as the kubelet names it (`restart_backoff.kubelet_pod`)
    backoff: RestartBackOff = field(default_factory=RestartBackOff)
    events: EventLog = field(default_factory=EventLog)


def restarts_after(policy: str, code: int | None) -> bool:
    """Whether a kubelet restarts a container that ended with `code` (None: it could not
    start) under the pod's `restartPolicy`: Always, OnFailure (not after exit code 0), Never."""
    return policy == "Always" or (policy == "OnFailure" and code != 0)


async def supervise(
    child: ChildState,
    launch: Callable[[], Awaitable[asyncio.subprocess.Process]],
    stopping: Callable[[], bool],
    owner: str,
    on_start: Callable[[], None] = lambda: None,
    wait: Callable[[], Awaitable[int]] | None = None,
    on_exit: Callable[[], None] = lambda: None,
    policy: str = "Always",
) -> None:
    """Run `child` until `stopping()`: start it, wait for it (`wait`, else its process),
    restart it as the pod's restartPolicy `policy` says (`restarts_after`; else it stays
    terminated, `done`) after the kubelet's back-off (`restart_backoff`). `on_start` runs
    whenever its status changed (started, backing off, terminated for good), `on_exit` once it
    exited or failed to start."""
    while not stopping():
        code: int | None = None
        started = time.time()
        try:
            child.process = await launch()
        except OSError as exc:
            log.error("%s: cannot start %s: %s", owner, child.name, exc)
            child.process = None
        else:
            child.started_at, started = time.monotonic(), time.time()
            on_start()
            code = exit_code(await (wait() if wait is not None else child.process.wait()))
            if stopping():
                return
        ended = time.monotonic()
        child.exit_code, child.finished_at = code, time.time()
        child.last_started_at = started
        if not restarts_after(policy, code):
            log.info("%s: %s exited with %s (restartPolicy %s)", owner, child.name, code, policy)
            child.done = True
            on_exit()
            on_start()  # its status changed: terminated
            return
        log.warning("%s: %s exited with %s; restarting", owner, child.name, code)
        on_exit()
        if (delay := child.backoff.wait(ended, time.monotonic())) > 0:
            name, pod = child.container or child.name, child.pod or owner
            child.waiting = waiting_message(child.backoff.current, name, pod)
            child.events.record("Warning", "BackOff", event_message(name, pod))
            on_start()
            await asyncio.sleep(delay)
            child.waiting = ""
            if stopping():
                return
        child.backoff.restarted(ended, time.monotonic())
        child.restarts += 1
        child.restarted_at = time.time()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


FILE_CAPS = "+dac_override,+dac_read_search"  # what a child run as `user` keeps of root's


def setpriv_prefix(group: int | None, user: int | None = None) -> list[str] | None:
    """The `setpriv` words that give a child the death signal (and `group`) before it execs its
    program, or None where setpriv is missing (then a pre-exec hook does it, with a fork).
    With `user` (Istio's istio-proxy, uid 1337, for a captured pod's Envoy: the capture rules
    check the uid first) the child runs as that user and group, keeping root's access to the
    files it reads (bootstrap, SDS socket, its log) as ambient capabilities; setpriv sets the
    death signal after changing ids, which clears it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if user is not None:
            raise OSError("setpriv (util-linux) is needed to run a process as another user")
        return None
    words = [setpriv, "--pdeathsig", "KILL"]
    if user is not None:
        words += ["--reuid", str(user), "--regid", str(user if group is None else group)]
        words += ["--clear-groups", "--inh-caps", FILE_CAPS, "--ambient-caps", FILE_CAPS]
    elif group is not None:
        words += ["--regid", str(group), "--keep-groups"]
    return [*words, "--"]


async def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    cwd: str | None = None,
    group: int | None = None,
    user: int | None = None,
    new_run: bool | None = None,
) -> asyncio.subprocess.Process:
    """Start a child whose stdout and stderr append to log_path (with `group`/`user`: as that
    group/user, e.g. Istio's proxy uid and gid 1337 that the capture rules let through). With
    `new_run` (a container's process: True when the container (re)starts, False for a new
    process in the same container) its output goes through the agent, which keeps when each
    line came (`container_log`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = setpriv_prefix(group, user)
    fork_only: dict[str, Any] = {}  # what makes CPython fork: only where setpriv is missing
    if prefix is None:
        prefix, fork_only = [], {"preexec_fn": _die_with_parent, "group": group}
    if new_run is None:
        out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    else:
        out = container_log.open_pipe(log_path, new_run)
    try:
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            **fork_only,
        )
    finally:
        os.close(out)  # the child holds it now (a pump sees the end once the child is gone)
    if prefix:
        await _past_setpriv(proc.pid, prefix[0])
    return proc


async def _past_setpriv(pid: int, setpriv: str, timeout: float = 5.0) -> None:
    """Wait until the child has exec'd its program, so its death signal is set: setpriv sets
    it just before that exec, and a parent killed in between would leave an orphan (seen under
    load: the parent was killed right after spawn returned and the child outlived it)."""
    setpriv_exe = os.path.realpath(setpriv)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/exe") != setpriv_exe:
                return
        except OSError:  # gone or a zombie already: nothing left to orphan
            return
        await asyncio.sleep(0.001)


async def terminate(proc: asyncio.subprocess.Process, grace: float = 3.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    if proc.returncode is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
