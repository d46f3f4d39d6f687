"""The kubelet's readiness of a container (`agent.readiness`), as pkg/kubelet/prober's worker:
thresholds, the period's ticker, the manual trigger while not ready, a new run, no probe."""

from __future__ import annotations

import asyncio
import time

from pilotfish.agent.kubelet_probes import Run
from pilotfish.agent.readiness import ISTIO_PROXY, ReadinessWorker, sidecar_probe
from pilotfish.registry.workloads import Probe


def _worker(probe: Probe | None) -> ReadinessWorker:
    async def never() -> bool:
        raise AssertionError("not run here")

    return ReadinessWorker("app", probe, never, lambda: (1, 0.0))


def test_the_state_changes_only_past_its_thresholds() -> None:
    worker = _worker(Probe("app", "http", 80, failure_threshold=3, success_threshold=2))
    worker.record(True)
    assert not worker.ready  # one success of two
    worker.record(True)
    assert worker.ready
    for _ in range(2):  # below failureThreshold: left as it was
        worker.record(False)
        assert worker.ready
    worker.record(True)  # the run of failures is broken: it starts over
    worker.record(False)
    worker.record(False)
    assert worker.ready
    worker.record(False)
    assert not worker.ready


def test_istio_proxy_probe_is_istios_injected_one() -> None:
    assert (ISTIO_PROXY.port, ISTIO_PROXY.path) == (15021, "/healthz/ready")
    assert (ISTIO_PROXY.period_seconds, ISTIO_PROXY.timeout_seconds) == (15, 3)
    assert (ISTIO_PROXY.failure_threshold, ISTIO_PROXY.initial_delay_seconds) == (4, 0)


class _Container:
    """A container's runs and its probe's answers, with the times it was probed."""

    def __init__(self) -> None:
        self.run: Run | None = (1, time.monotonic())
        self.passing = True
        self.probed: list[float] = []

    async def check(self) -> bool:
        self.probed.append(time.monotonic())
        return self.passing


def test_probes_every_period_once_ready_and_at_once_when_asked_while_not() -> None:
    async def scenario() -> None:
        container = _Container()
        probe = Probe("app", "exec", period_seconds=1, failure_threshold=2)
        worker = ReadinessWorker("app", probe, container.check, lambda: container.run)
        worker.start()
        try:
            while not worker.is_ready():  # the launcher reading the pods' readiness
                await asyncio.sleep(0.05)
            probed = len(container.probed)
            for _ in range(10):  # ready: asking does not probe; the ticker does, once
                worker.is_ready()
                await asyncio.sleep(0.05)
            assert len(container.probed) == probed
            container.passing = False
            began = time.monotonic()
            while worker.is_ready():
                await asyncio.sleep(0.05)
            assert time.monotonic() - began > 0.9  # two runs in a row, a period apart
            container.passing = True
            began = time.monotonic()
            while not worker.is_ready():  # not ready: asked, it probes at once
                await asyncio.sleep(0.05)
            assert time.monotonic() - began < 0.5
            container.run = (2, time.monotonic())  # a new run starts not ready
            assert not worker.is_ready()
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_initial_delay_and_startup_come_first() -> None:
    async def scenario() -> None:
        container = _Container()
        started = False
        probe = Probe("app", "exec", initial_delay_seconds=1)
        worker = ReadinessWorker("app", probe, container.check, lambda: container.run,
                                 lambda: started)  # fmt: skip
        worker.start()
        try:
            for _ in range(30):
                worker.is_ready()
                await asyncio.sleep(0.05)
            assert container.probed == []  # its startupProbe has not passed
            started = True
            while not worker.is_ready():
                await asyncio.sleep(0.05)
            assert container.run is not None
            assert container.probed[0] - container.run[1] >= 1  # initialDelaySeconds
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_without_a_probe_ready_once_it_passed_in_this_run() -> None:
    async def scenario() -> None:
        container = _Container()
        container.passing = False
        worker = ReadinessWorker("app", None, container.check, lambda: container.run)
        worker.start()
        try:
            await asyncio.sleep(0.2)
            assert not worker.is_ready()
            container.passing = True
            while not worker.is_ready():
                await asyncio.sleep(0.05)
            container.passing = False  # never asked again in this run
            probed = len(container.probed)
            for _ in range(10):
                assert worker.is_ready()
                await asyncio.sleep(0.05)
            assert len(container.probed) == probed
            container.run = None  # it ended: not ready
            assert not worker.is_ready()
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_the_pods_annotations_set_istio_proxys_probe() -> None:
    assert sidecar_probe({}) is None  # Istio's default
    probe = sidecar_probe({
        "readiness.status.sidecar.istio.io/initialDelaySeconds": "2",
        "readiness.status.sidecar.istio.io/periodSeconds": "5",
        "readiness.status.sidecar.istio.io/failureThreshold": "x",  # not a number: the default
    })  # fmt: skip
    assert probe is not None and probe.path == "/healthz/ready"
    assert (probe.initial_delay_seconds, probe.period_seconds, probe.failure_threshold) == (2, 5, 4)
