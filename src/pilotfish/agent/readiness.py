"""The kubelet's readiness of one container (`ReadinessWorker`), as its prober runs it
(kubernetes/kubernetes pkg/kubelet/prober: `worker.doProbe`, `manager.UpdatePodStatus`):

- each run of the container starts not ready (the readiness worker's initial Failure); nothing
  is probed before its startupProbe passed (`started`) nor before `initialDelaySeconds` since
  the container started;
- the probe then runs every `periodSeconds` (the worker's ticker), each run within its
  `timeoutSeconds` (the caller's check); the container's state changes only once
  `failureThreshold` runs in a row failed or `successThreshold` in a row passed (a result
  below its threshold leaves the state as it was): one slow answer on a busy machine does not
  take a Ready pod out of its Services' endpoints;
- while the container is not ready, each time the kubelet writes the pod's status it asks for
  an immediate run (`UpdatePodStatus`'s manual trigger): here the launcher reads the pods'
  readiness every 0.25 s (`ready`), so a starting pod turns Ready as soon as its probe passes,
  not a period later;
- a container with no readinessProbe is ready once it runs (the kubelet's "no readinessProbe
  -> always ready"); here, once it runs and has passed the caller's check once in this run
  (the ports it declares accept connections: a local process has no image to pull or
  container to create, so "running" would come before its app listens), and it stays ready
  until that run ends.

`ISTIO_PROXY` is the readinessProbe Istio's injector gives `istio-proxy` (15021
`/healthz/ready`, period 15 s, timeout 3 s, 4 failures, or the pod's
`readiness.status.sidecar.istio.io/*` annotations' values: `sidecar_probe`; its startupProbe,
every 1 s, gates it until Envoy first answers: the manual trigger's pace here), `GATEWAY` the
gateway chart's.
Which check runs for which container is the caller's (`agent.sidecar`, `agent.containers`,
`local.pod_agent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from pilotfish.agent.kubelet_probes import Run
from pilotfish.agent.ports import HEALTH_PORT
from pilotfish.agent.probes import check
from pilotfish.agent.spec import PROXY_CONTAINER
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.workloads import Probe

ISTIO_PROXY = Probe(
    "istio-proxy", "http", HEALTH_PORT, "/healthz/ready",
    timeout_seconds=3, period_seconds=15, failure_threshold=4,
)  # fmt: skip
GATEWAY = Probe(
    "istio-proxy", "http", HEALTH_PORT, "/healthz/ready",
    initial_delay_seconds=1, timeout_seconds=3, period_seconds=2, failure_threshold=30,
)  # fmt: skip
PREFIX = "readiness.status.sidecar.istio.io/"  # the pod's annotations Istio's injector
# writes into istio-proxy's readinessProbe: initialDelaySeconds, periodSeconds, failureThreshold
IDLE_SECONDS = 1.0  # how long a worker with nothing to probe sleeps, unless asked sooner


@dataclass
class ReadinessWorker:
    """The readiness of container `name`: `probe` (None: it has no readinessProbe) run by
    `check` (True: it passed), against the run `current_run` says is up (None: not running),
    once `started` (its startupProbe passed)."""

    name: str
    probe: Probe | None
    check: Callable[[], Awaitable[bool]]
    current_run: Callable[[], Run | None]
    started: Callable[[], bool] = lambda: True
    ready: bool = False  # the kubelet's result for the current run
    _run: Run | None = None
    _last: bool | None = None  # the last probe's result, and how many in a row gave it
    _streak: int = 0
    _asked: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stopped: bool = False  # (3.11's wait_for may swallow a cancel: the loop checks this too)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def is_ready(self) -> bool:
        """Ready in its current run; when not, an immediate probe is asked for (the kubelet's
        manual trigger while a container is not ready)."""
        if self.ready and self.current_run() == self._run:
            return True
        self._asked.set()
        return False

    def record(self, ok: bool) -> None:
        """One probe's result, through the kubelet's thresholds."""
        if ok == self._last:
            self._streak += 1
        else:
            self._last, self._streak = ok, 1
        probe = self.probe or Probe(self.name, "")
        if self._streak >= (probe.success_threshold if ok else probe.failure_threshold):
            self.ready = ok

    async def _loop(self) -> None:
        while not self._stopped:
            run = self.current_run()
            if run != self._run:  # a new run of the container: not ready until probed
                self._run, self.ready = run, False
            if run is None or not self.started() or (self.probe is None and self.ready):
                await self._wait(IDLE_SECONDS)
                continue
            delay = 0 if self.probe is None else self.probe.initial_delay_seconds
            if (wait := run[1] + delay - time.monotonic()) > 0:
                await self._wait(wait)
                continue
            began = time.monotonic()
            ok = await self.check()
            if self.current_run() != run:  # it ended meanwhile: the result is for no one
                continue
            if self.probe is None:
                self.ready = ok
                if not ok:
                    await self._wait(IDLE_SECONDS)
                continue
            self.record(ok)
            await self._wait(began + self.probe.period_seconds - time.monotonic())

    async def _wait(self, seconds: float) -> None:
        """Until the next tick, or until the launcher asks while the container is not ready."""
        if seconds > 0 and not self._asked.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), seconds)
        self._asked.clear()


def sidecar_probe(annotations: Mapping[str, str]) -> Probe | None:
    """istio-proxy's readinessProbe as Istio's injector writes it from the pod's
    `readiness.status.sidecar.istio.io/*` annotations (None: none, `ISTIO_PROXY`); a value
    that is not a whole number is left out (`analyze` reports it)."""

    def number(key: str, default: int) -> int:
        value = annotations.get(PREFIX + key, "")
        return int(value) if value.isdigit() else default

    probe = replace(
        ISTIO_PROXY,
        initial_delay_seconds=number("initialDelaySeconds", ISTIO_PROXY.initial_delay_seconds),
        period_seconds=max(1, number("periodSeconds", ISTIO_PROXY.period_seconds)),
        failure_threshold=max(1, number("failureThreshold", ISTIO_PROXY.failure_threshold)),
    )
    return None if probe == ISTIO_PROXY else probe


def proxy_worker(
    proxy: Proxy, current_run: Callable[[], Run | None], own: Probe | None = None
) -> ReadinessWorker:
    """istio-proxy's: Istio's probe of its 15021 (`own`: the pod's annotations'; a gateway's,
    `GATEWAY`)."""
    probe = GATEWAY if proxy.type is ProxyType.ROUTER else own or ISTIO_PROXY

    async def passes() -> bool:
        return (await check(probe, proxy.ip, HEALTH_PORT)).ok

    return ReadinessWorker(PROXY_CONTAINER, probe, passes, current_run)


def all_ready(workers: list[ReadinessWorker]) -> bool:
    """Every container ready (each not-ready one asked to probe at once)."""
    return all([w.is_ready() for w in workers])
