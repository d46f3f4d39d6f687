"""The kubelet's restart back-off (`agent.restart_backoff`) as Kubernetes computes it
(kuberuntime's doBackOff over client-go's flowcontrol.Backoff: 10 s doubling to 300 s, reset
after 2 × 300 s), and `supervise` applying it to real processes: the first restart at once,
the next ones after the back-off, waiting as CrashLoopBackOff with the kubelet's message and a
BackOff event only when a restart is delayed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pilotfish.agent.processes import ChildState, spawn, supervise
from pilotfish.agent.restart_backoff import (
    RestartBackOff,
    exit_code,
    go_duration,
    kubelet_pod,
    waiting_message,
)
from pilotfish.registry.pod_fields import pod_uid


def _delays(backoff: RestartBackOff, runs: list[float]) -> list[float]:
    """The wait before each restart of a container whose runs last `runs` seconds each (it
    ends, waits its back-off, restarts at once after it)."""
    now, delays = 0.0, []
    for seconds in runs:
        now += seconds  # it ran that long, then ended
        ended = now
        delay = backoff.wait(ended, now)
        delays.append(delay)
        now += delay
        backoff.restarted(ended, now)
    return delays


def test_restarts_wait_0_then_10_s_doubling_to_5_min() -> None:
    delays = _delays(RestartBackOff(), [1.0] * 9)
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_a_run_of_over_10_min_since_its_last_restart_starts_the_back_off_over() -> None:
    # the 4th run lasts 601 s: stable, restarted at once, and its window is 10 s again; the 6th
    # lasts 599 s (not over 600 s since its restart): its window doubles as before
    assert _delays(RestartBackOff(), [1, 1, 1, 601, 1, 599]) == [0, 10, 20, 0, 10, 20]


def test_a_wait_counts_from_when_the_container_ended() -> None:
    backoff = RestartBackOff()
    backoff.restarted(0.0, 0.0)  # its first restart, at once: a 10 s window
    assert backoff.wait(ended=5.0, now=5.0) == 10.0
    assert backoff.wait(ended=5.0, now=12.0) == 3.0  # its sync came late
    assert backoff.wait(ended=5.0, now=16.0) == 0.0


def test_the_kubelets_words() -> None:
    assert [go_duration(s) for s in (10, 20, 80, 160, 300, 3600, 1.6, 0.4)] == [
        "10s", "20s", "1m20s", "2m40s", "5m0s", "1h0m0s", "1.6s", "400ms"]  # fmt: skip
    pod = kubelet_pod("default", "sleep-0", "127.1.0.5")
    assert pod == f"sleep-0_default({pod_uid('default', 'sleep-0', '127.1.0.5')})"
    assert waiting_message(40, "sleep", pod) == (
        f"back-off 40s restarting failed container=sleep pod={pod}")  # fmt: skip
    assert [exit_code(c) for c in (0, 1, -9, -15)] == [0, 1, 137, 143]


async def _supervised(script: str, log: Path, seconds: float, window: float) -> ChildState:
    child = ChildState("job", container="job", pod="job-0_default(u)")
    child.backoff = RestartBackOff(initial=window, maximum=4 * window)
    seen: list[str] = []

    async def launch() -> asyncio.subprocess.Process:
        return await spawn(["sh", "-c", script], {"PATH": "/usr/bin:/bin"}, log, new_run=True)

    def changed() -> None:
        seen.append(child.waiting)

    task = asyncio.create_task(supervise(child, launch, lambda: False, "pod", on_start=changed))
    await asyncio.wait({task}, timeout=seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if child.process is not None and child.process.returncode is None:
        child.process.kill()
        await child.process.wait()
    child.events.record("Normal", "Seen", "|".join(s for s in seen if s))  # for the asserts
    return child


@pytest.mark.parametrize("code", [1, 0])
def test_a_crashing_container_restarts_at_once_then_backs_off(tmp_path: Path, code: int) -> None:
    """Runs that end at once, a 0.4 s window (0.4, 0.8, 1.6 s): restarts at 0, 0.4, 1.2 s
    (then 2.8 s), so 3 restarts in 2.2 s; after each of the last two ends, the container
    waits with the kubelet's message and one BackOff event more."""
    child = asyncio.run(_supervised(f"exit {code}", tmp_path / "job.log", 2.2, 0.4))
    assert child.restarts == 3 and child.exit_code == code
    assert child.waiting == "back-off 1.6s restarting failed container=job pod=job-0_default(u)"
    backoff, seen = child.events.entries
    assert (backoff["type"], backoff["reason"], backoff["count"]) == ("Warning", "BackOff", 3)
    assert backoff["message"] == "Back-off restarting failed container job in pod job-0_default(u)"
    assert seen["message"].split("|") == [
        f"back-off {w} restarting failed container=job pod=job-0_default(u)"
        for w in ("400ms", "800ms", "1.6s")
    ]
    assert child.last_started_at is not None and child.finished_at is not None
    assert child.last_started_at <= child.finished_at


def test_a_container_that_runs_long_enough_restarts_at_once(tmp_path: Path) -> None:
    """Runs longer than twice the maximum back-off (0.5 s against 2 × 0.2 s): no wait."""
    child = asyncio.run(_supervised("sleep 0.5; exit 1", tmp_path / "job.log", 1.9, 0.05))
    assert child.restarts >= 2 and not child.events.entries[:-1]  # no BackOff event
