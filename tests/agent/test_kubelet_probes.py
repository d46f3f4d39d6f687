"""The kubelet's startup and liveness probes of one container (`ContainerProber`) on a fake clock:
the first run `initialDelaySeconds` after the container started, then one every
`periodSeconds` and never faster; the startupProbe gates the liveness probe; `failureThreshold`
failures in a row kill the container, whose next run starts over; the events as the kubelet
words them, aggregated."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pilotfish.agent import container_events, kubelet_probes
from pilotfish.agent.container_events import EventLog
from pilotfish.agent.kubelet_probes import ContainerProber, Run, kill_grace
from pilotfish.agent.probes import Outcome
from pilotfish.registry.workloads import Probe

REAL_SLEEP = asyncio.sleep


@dataclass
class Clock:
    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@dataclass
class Container:
    """A container's runs (pid, start) and the probe answers it gives, by endpoint."""

    clock: Clock
    answers: dict[str, Callable[[float], bool]]
    run: Run | None = None
    probed: list[tuple[str, float]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    graces: list[float] = field(default_factory=list)  # each kill's seconds before SIGKILL

    def start(self, pid: int) -> None:
        self.run = (pid, self.clock.now)

    async def check(self, probe: Probe) -> Outcome:
        self.probed.append((probe.endpoint, self.clock.now))
        ok = self.answers[probe.endpoint](self.clock.now - (self.run or (0, 0.0))[1])
        return Outcome(ok, "" if ok else "HTTP probe failed with statuscode: 500")

    async def kill(self, grace: float) -> None:
        self.kills.append(self.clock.now)
        self.graces.append(grace)
        pid = self.run[0] if self.run else 0
        self.start(pid + 1)  # the supervisor restarts it at once (its back-off aside)


def run_for(
    monkeypatch: pytest.MonkeyPatch, container: Container, prober: ContainerProber, seconds: float
) -> None:
    clock = container.clock

    async def sleep(delay: float) -> None:
        clock.now += delay
        await REAL_SLEEP(0)

    async def main() -> None:
        container.start(100)
        prober.start()
        while clock.now < 1000.0 + seconds:
            await REAL_SLEEP(0)
        await prober.stop()

    monkeypatch.setattr(kubelet_probes, "time", clock)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    asyncio.run(main())


def prober_for(
    container: Container, startup: Probe | None, liveness: Probe | None, grace: int = 30
) -> ContainerProber:
    return ContainerProber(
        "app", startup, liveness, container.check, lambda: container.run, container.kill,
        grace=grace,
    )  # fmt: skip


def test_liveness_probes_every_period_and_kills_after_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    liveness = Probe("app", "http", 8080, initial_delay_seconds=5, period_seconds=5,
                     endpoint="livez")  # fmt: skip
    container = Container(Clock(), {"livez": lambda age: age < 12})  # healthy for 12 s a run
    prober = prober_for(container, None, liveness)
    run_for(monkeypatch, container, prober, 40)
    times = [at - 1000.0 for _, at in container.probed]
    # probed at 5, 10 (pass), 15, 20, 25 (fail: killed at 25), then the new run from 30
    assert times[:7] == [5, 10, 15, 20, 25, 30, 35], times
    assert container.kills[0] - 1000.0 == 25
    assert container.graces[0] == 30  # the pod's terminationGracePeriodSeconds (default)
    assert all(b - a >= 5 for a, b in itertools.pairwise(times))
    entries = prober.events.entries
    assert [(e["reason"], e["message"], e["count"]) for e in entries][:2] == [
        ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", 3),
        ("Killing", "Container app failed liveness probe, will be restarted", 1),
    ]
    assert (entries[0]["type"], entries[1]["type"]) == ("Warning", "Normal")
    assert prober.status() == {"events": entries}


def test_startup_probe_gates_liveness_and_kills_after_its_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    startup = Probe("app", "tcp", 80, period_seconds=2, failure_threshold=3, endpoint="startupz")
    liveness = Probe("app", "tcp", 80, period_seconds=10, endpoint="livez")
    # the first run never starts up; the next one does 3 s in, and stays live
    container = Container(Clock(), {"startupz": lambda age: age >= 3, "livez": lambda age: True})
    container.answers["startupz"] = lambda age: (
        container.run is not None and (container.run[0] > 100 and age >= 3)
    )
    prober = prober_for(container, startup, liveness, grace=7)
    run_for(monkeypatch, container, prober, 30)
    seen = [(kind, at - 1000.0) for kind, at in container.probed]
    # first run: startup at 0, 2, 4 fails: killed at 4; second run (from 4): 4, 6, 8 passes
    assert seen[:6] == [("startupz", 0), ("startupz", 2), ("startupz", 4), ("startupz", 4),
                        ("startupz", 6), ("startupz", 8)], seen  # fmt: skip
    assert seen[6] == ("livez", 8)  # liveness only once started (no delay of its own)
    assert all(kind == "livez" for kind, _ in seen[6:]) and len(seen) == 9, seen
    assert prober.started and container.kills == [1004.0]
    assert container.graces == [7]  # the pod's (7 s here)
    assert prober.status()["started"] is True
    counts = {e["message"]: e["count"] for e in prober.events.entries}
    assert counts == {"Startup probe failed: HTTP probe failed with statuscode: 500": 5,
                      "Container app failed startup probe, will be restarted": 1}  # fmt: skip


def test_a_container_that_is_not_running_is_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    liveness = Probe("app", "exec", command=("true",), period_seconds=3, endpoint="livez")
    container = Container(Clock(), {"livez": lambda age: True})
    prober = prober_for(container, None, liveness)
    original = container.start

    def never(pid: int) -> None:
        original(pid)
        container.run = None

    container.start = never  # type: ignore[method-assign]
    run_for(monkeypatch, container, prober, 20)
    assert container.probed == []


def test_events_are_aggregated_by_reason_and_message() -> None:
    log = EventLog()
    log.record("Warning", "Unhealthy", "Liveness probe failed: a", now=1.0)
    log.record("Normal", "Killing", "Container x failed liveness probe, will be restarted", 2.0)
    log.record("Warning", "Unhealthy", "Liveness probe failed: a", now=3.0)
    first, second = log.entries
    assert (first["reason"], first["count"], first["first"], first["last"]) == ("Killing", 1, 2, 2)
    assert (second["reason"], second["count"], second["first"], second["last"]) == (
        "Unhealthy", 2, 1.0, 3.0)  # fmt: skip
    for n in range(30):
        log.record("Warning", "Unhealthy", f"Liveness probe failed: {n}", now=10.0 + n)
    assert len(log.entries) == container_events.MAX_EVENTS


@pytest.mark.parametrize(
    ("own", "pod", "grace"),
    [(None, 30, 30), (None, 5, 5), (10, 30, 10), (60, 0, 60), (None, 0, 2), (1, 30, 2)],
)
def test_a_probe_kills_with_its_own_grace_else_the_pods_never_under_two_seconds(
    own: int | None, pod: int, grace: int
) -> None:
    """The kubelet's setTerminationGracePeriod (the probe's terminationGracePeriodSeconds, else
    the pod's) and killContainer's minimumGracePeriodInSeconds (2)."""
    probe = Probe("app", "tcp", 80, endpoint="livez", termination_grace=own)
    assert kill_grace(probe, pod) == grace
