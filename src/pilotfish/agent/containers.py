"""The app containers of a pod past its first (`AgentSpec.siblings`), run as a kubelet runs a pod's
containers: each started with its own command, env and working directory in the pod's network
(inside its namespace when it has one, `spec.in_pod`), supervised as the pod's `restartPolicy`
says, its output kept as a container's (`container_log`) in `<run dir>/containers/<name>.log`,
ready when its probe passes (run here, or by the agent inside an isolated pod on 15020 as Istio's
agent serves every container's rewritten probe; without one, its ports accept connections) once its
startupProbe has, killed and restarted when its startup or liveness probe fails (`kubelet_probes`),
and stopped with the pod. The in-process `Agent` and the isolated mode's `PodAgent` (the kubelet's
side of a pod whose agent runs inside it) both hold one.

`container_row` is the one shape of a container's status in `agent.json` and mesh.json.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.agent.envoy_admin import http_ok, listening
from pilotfish.agent.kubelet_probes import ContainerProber, Run
from pilotfish.agent.pod_probes import container_prober, kubelet_check
from pilotfish.agent.probes import run_probe
from pilotfish.agent.processes import ChildState, spawn, supervise, tcp_open, terminate
from pilotfish.agent.spec import (
    PROXY_CONTAINER,
    AgentSpec,
    AppSpec,
    app_argv,
    app_env,
    container_name,
    kubelet_pod_of,
    stop_grace,
)

FOLDER = "containers"


def container_log_path(run_dir: Path, name: str) -> Path:
    """Where the output of the pod's container `name` (not its first) is kept."""
    return run_dir / FOLDER / f"{name}.log"


def container_row(child: ChildState, prober: ContainerProber | None = None) -> dict[str, Any]:
    """A container's status: pid (None unless running), since when it runs (epoch seconds),
    restarts, last restart, how its last run ended (exit code, when it started and ended), the
    kubelet's back-off message while its restart waits (`waiting`), whether it ended for good
    (`done`), from its probes (`prober`) whether its startupProbe passed (`started`), and its
    events (the back-off's and the probes', oldest first)."""
    process = child.process
    running = process is not None and process.returncode is None
    since = time.time() - (time.monotonic() - child.started_at) if running else None
    row = {
        "pid": process.pid if running and process is not None else None,
        "running_since": since,
        "restarts": child.restarts,
        "restarted_at": child.restarted_at,
        "exit_code": child.exit_code,
        "finished_at": child.finished_at,
        "last_started_at": child.last_started_at,
        "waiting": child.waiting,
        "done": child.done,
    } | (prober.status() if prober is not None else {})
    events = [*child.events.entries, *row.get("events", [])]
    return row | ({"events": sorted(events, key=lambda e: e["last"])} if events else {})


def proxy_row(envoy: ChildState) -> dict[str, Any]:
    """The istio-proxy container's status: pid, restarts, last restart, its back-off message
    while its restart waits, its events."""
    return {
        "envoy_pid": envoy.process.pid if envoy.process else None,
        "envoy_restarts": envoy.restarts,
        "envoy_restarted_at": envoy.restarted_at,
        "envoy_waiting": envoy.waiting,
    } | ({"envoy_events": envoy.events.entries} if envoy.events.entries else {})


def name_containers(spec: AgentSpec, app: ChildState, envoy: ChildState) -> None:
    """Name the first app container and istio-proxy as the kubelet's messages name them."""
    pod = kubelet_pod_of(spec)
    app.container, app.pod = container_name(spec), pod
    envoy.container, envoy.pod = PROXY_CONTAINER, pod


@dataclass
class Siblings:
    spec: AgentSpec
    on_change: Callable[[], None] = lambda: None  # a container started or ended for good
    probes_at: str = ""  # where an agent inside the pod serves `/app-health/<name>/readyz`
    children: dict[str, ChildState] = field(default_factory=dict)
    probers: dict[str, ContainerProber] = field(default_factory=dict)  # startup and liveness
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    def start(self) -> None:
        for app in self.spec.siblings:
            if app.config_error:  # CreateContainerConfigError: never started
                continue
            child = self.children[app.name] = ChildState(app.name, pod=kubelet_pod_of(self.spec))
            prober = container_prober(
                self.spec, app, functools.partial(_run_of, child),
                functools.partial(_kill, child), self.on_change,
            )  # fmt: skip
            if prober is not None:
                self.probers[app.name] = prober
                prober.start()
            task = supervise(
                child,
                functools.partial(self._launch, app),
                lambda: self._stopping,
                self.spec.proxy.pod_name,
                on_start=self.on_change,
                policy=self.spec.restart_policy,
            )
            self._tasks.append(asyncio.create_task(task))

    async def _launch(self, app: AppSpec) -> asyncio.subprocess.Process:
        return await spawn(
            app_argv(self.spec, app),
            app_env(self.spec, app),
            container_log_path(self.spec.run_dir, app.name),
            cwd=app.workdir,
            # not the proxy's gid 1337 an agent inside a captured pod holds: captured as apps
            group=os.getgid() if self.spec.proxy.captured else None,
            new_run=True,
        )

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: container_row(child, self.probers.get(name))
            for name, child in self.children.items()
        }

    async def ready(self) -> bool:
        """Every container runs and is ready (a kubelet's: one that ended is not): its probe
        passes (where the pod shares this network; in its own namespace, its ports listen
        there), else its ports accept connections."""
        proxy = self.spec.proxy
        real = dict(proxy.app_ports)
        host = "127.0.0.1" if self.spec.sidecar else proxy.ip
        for app in self.spec.siblings:
            child = self.children.get(app.name)
            process = child.process if child is not None else None
            if child is None or process is None or process.returncode is not None:
                return False
            if (prober := self.probers.get(app.name)) is not None and not prober.started:
                return False  # its startupProbe has not passed yet
            probe = app.readiness
            if probe is not None and time.monotonic() - child.started_at < (
                probe.initial_delay_seconds
            ):
                return False
            if probe is not None and probe.kind == "exec":  # a command in the container
                if not (await kubelet_check(self.spec, app)(probe)).ok:
                    return False
            elif probe is not None and self.probes_at:  # run by the agent inside the pod
                url = f"{self.probes_at}/app-health/{app.name}/readyz"
                if not await asyncio.to_thread(http_ok, url, probe.timeout_seconds + 1):
                    return False
            elif self.spec.netns:  # in its own namespace, nothing to probe it: its sockets there
                if not listening(process.pid, [real.get(p, p) for p in app.ports]):
                    return False
            elif probe is not None:
                if not await run_probe(probe, host, real.get(probe.port, probe.port)):
                    return False
            elif not all([await tcp_open(host, real.get(p, p)) for p in app.ports]):
                return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        for prober in self.probers.values():
            await prober.stop()
        for child in self.children.values():
            if child.process is not None:
                await terminate(child.process, stop_grace(self.spec))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _run_of(child: ChildState) -> Run | None:
    process = child.process
    if process is None or process.returncode is not None:
        return None
    return process.pid, child.started_at


async def _kill(child: ChildState, grace: float) -> None:
    if child.process is not None:
        await terminate(child.process, grace)
