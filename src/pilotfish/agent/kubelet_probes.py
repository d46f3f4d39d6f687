"""The kubelet's startup and liveness probes of one container (`ContainerProber`), and the
events they leave (`EventLog`), as the kubelet runs and words them:

- each run of the container (a new pid) starts over: the startupProbe first (liveness and
  readiness wait until it passes: `started`), then the livenessProbe; each probe first runs
  `initialDelaySeconds` after the container started, then every `periodSeconds`;
- a probe that fails `failureThreshold` times in a row kills the container ("Container X failed
  liveness probe, will be restarted"): SIGTERM, then SIGKILL after the probe's own
  `terminationGracePeriodSeconds`, else the pod's (30 s by default), never under 2 s (the
  kubelet's `setTerminationGracePeriod` and `minimumGracePeriodInSeconds`); its supervisor then
  restarts it as the pod's restartPolicy says, with the kubelet's back-off
  (`processes.supervise`), so RESTARTS counts it;
- each failure is a Warning `Unhealthy` event ("Liveness probe failed: <the probe's words>"),
  each kill a Normal `Killing` one; events of the same reason and message are one entry with a
  count and first/last times, as the API server aggregates them.

One task per container, sleeping until its next probe is due: never more than one probe run per
`periodSeconds` (no polling). How a probe runs (through the agent's rewritten
`/app-health/<container>/<endpoint>`, straight at the pod, or as a command) and how the
container is killed are the caller's (`agent.sidecar`, `agent.containers`, `local.pod_agent`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.agent.container_events import EventLog
from pilotfish.agent.probes import Outcome
from pilotfish.registry.workloads import DEFAULT_GRACE_SECONDS, Probe

log = logging.getLogger("pilotfish.agent")

LABELS = {"readyz": "Readiness", "livez": "Liveness", "startupz": "Startup"}
MIN_KILL_GRACE = 2  # the kubelet's minimumGracePeriodInSeconds for a container it kills

Run = tuple[int, float]  # a run of the container: its pid, and when it started (monotonic)


def unhealthy(probe: Probe, outcome: Outcome) -> str:
    """The kubelet's Unhealthy message: `Liveness probe failed: HTTP probe failed with …`."""
    return f"{LABELS[probe.endpoint]} probe failed: {outcome.output.rstrip()}"


def kill_grace(probe: Probe, pod_grace: int) -> int:
    """Seconds between SIGTERM and SIGKILL when `probe` kills its container."""
    own = probe.termination_grace
    return max(MIN_KILL_GRACE, own if own is not None else pod_grace)


def killing(container: str, probe: Probe) -> str:
    """The kubelet's Killing message for a container whose probe failed too often."""
    return f"Container {container} failed {LABELS[probe.endpoint].lower()} probe, will be restarted"


@dataclass
class ContainerProber:
    """The startup and liveness probes of container `name`. `check` runs one probe once;
    `current_run` says which run of the container is up (None: not running); `kill(grace)`
    stops it, SIGKILL after `grace` seconds (its supervisor restarts it); `on_change` runs when
    `started` or the events change. `grace` is the pod's terminationGracePeriodSeconds."""

    name: str
    startup: Probe | None
    liveness: Probe | None
    check: Callable[[Probe], Awaitable[Outcome]]
    current_run: Callable[[], Run | None]
    kill: Callable[[float], Awaitable[None]]
    on_change: Callable[[], None] = lambda: None
    events: EventLog = field(default_factory=EventLog)
    grace: int = DEFAULT_GRACE_SECONDS
    started: bool = True  # its startupProbe passed in this run (True without one)
    _task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.startup is not None or self.liveness is not None

    def start(self) -> None:
        if self.active and self._task is None:
            self.started = self.startup is None
            self._task = asyncio.create_task(self._loop())
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("probes of container %s stopped", self.name, exc_info=task.exception())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def status(self) -> dict[str, Any]:
        """What the container's status row adds: `started`, and its `events`."""
        found: dict[str, Any] = {"started": self.started} if self.startup is not None else {}
        return found | ({"events": list(self.events.entries)} if self.events.entries else {})

    async def _loop(self) -> None:
        seen: Run | None = None
        killed: Run | None = None  # the run it killed, until its process is gone
        failures = 0
        while True:
            run = self.current_run()
            if run is not None and run == killed:
                run = None
            if run != seen:  # a new run of the container: its probes start over
                seen, failures = run, 0
                if self.started != (self.startup is None):
                    self.started = self.startup is None
                    self.on_change()
            probe = self.liveness if self.started else self.startup
            if run is None or probe is None:  # not running, or started with no liveness probe
                await asyncio.sleep((self.startup or self.liveness or _IDLE).period_seconds)
                continue
            due = run[1] + probe.initial_delay_seconds
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
                continue
            began = time.monotonic()
            outcome = await self.check(probe)
            if self.current_run() != run:  # it ended meanwhile: the result is for no one
                continue
            failures = 0 if outcome.ok else failures + 1
            if outcome.ok and not self.started:
                self.started = True
                self.on_change()
                continue  # the liveness probe's first run is due now (its own delay aside)
            if not outcome.ok:
                self.events.record("Warning", "Unhealthy", unhealthy(probe, outcome))
                if failures >= probe.failure_threshold:
                    await self._kill(probe)
                    killed, failures = run, 0
                    self.on_change()
                    continue  # its next run is probed from its own start
                self.on_change()
            await asyncio.sleep(max(0.0, began + probe.period_seconds - time.monotonic()))

    async def _kill(self, probe: Probe) -> None:
        message = killing(self.name, probe)
        log.warning("%s", message)
        self.events.record("Normal", "Killing", message)
        try:
            await self.kill(kill_grace(probe, self.grace))
        except OSError as exc:
            log.error("cannot stop container %s: %s", self.name, exc)


_IDLE = Probe("", "exec")  # the kubelet's default period, while the container is not running
