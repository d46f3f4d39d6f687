"""`PodAgent`: an isolated pod's pilot-agent as its own process, `pilotfish agent`, started
inside the pod's network namespace (`ip netns exec`) with the environment Istio's injector gives
the `istio-proxy` container (`pilotfish.agent.environment`). The launcher uses it as it uses an
in-process `Agent` (start, readiness, drain, stop, children's pids), playing the kubelet:

- it restarts the agent process if it dies (with backoff);
- readiness is the kubelet's: the proxy's 15021 `/healthz/ready`, and the app's readiness probe
  through the agent's rewritten `/app-health/<container>/readyz` on 15020 (after the probe's
  `initialDelaySeconds`; not rewritten, straight at the pod), or without a probe, the app's
  ports listening in the pod; none before the app's startupProbe has passed;
- it runs the app's startup and liveness probes (`agent.pod_probes`) and kills an app that
  fails them (its agent restarts it);
- stopping a pod sends SIGTERM: the agent drains for `terminationDrainDuration`, stops the app,
  then Envoy, and exits; after the drain and a grace period the process group is killed;
- the pod's other containers (`agent.containers`) it runs itself, inside the pod, and stops
  once the agent has drained.

The agent writes its children's pids to `agent.json` in its run dir; the app's environment goes
to `app-env.json` beside it (0600). The pod's Envoy admin is reached from the host through an
`AdminBridge` (`admin` in the children's status).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from pilotfish.agent.containers import Siblings
from pilotfish.agent.environment import (
    agent_arguments,
    agent_environment,
    env_file_text,
    override_file,
)
from pilotfish.agent.envoy_admin import envoy_ready, http_ok, listening, until_envoy_ready
from pilotfish.agent.kubelet_probes import ContainerProber, Run
from pilotfish.agent.pod_probes import container_prober, kubelet_check, through_agent
from pilotfish.agent.ports import MERGED_PORT
from pilotfish.agent.processes import ChildState, spawn, supervise
from pilotfish.agent.service_env import tcp_service_env
from pilotfish.agent.spec import AgentSpec, stop_grace
from pilotfish.ca.storage import write_private
from pilotfish.capture.netns import in_netns
from pilotfish.local.admin_bridge import AdminBridge
from pilotfish.local.client import pid_alive

log = logging.getLogger("pilotfish.up")

STOP_GRACE = 10.0  # seconds past the drain before the agent's process group is killed
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class PodAgent:
    spec: AgentSpec  # what the agent process runs (spec.netns: the pod's namespace)
    agent: ChildState = field(default_factory=lambda: ChildState("agent"))
    bridge: AdminBridge | None = None
    _task: asyncio.Task[None] | None = None
    _held: asyncio.Task[None] | None = None  # the other containers' start, held (Istio's hold)
    _stopping: bool = False
    _signalled: bool = False
    siblings: Siblings | None = None  # the pod's other containers: the kubelet runs them
    prober: ContainerProber | None = None  # its app's startup and liveness probes (the kubelet's)
    _run: Run | None = None  # the app's run the prober last saw

    @property
    def name(self) -> str:
        return self.spec.proxy.pod_name

    def argv(self) -> list[str]:
        app = self.spec.app
        runs = app is not None and not app.config_error  # else: CreateContainerConfigError
        spec = self.spec if runs else dataclasses.replace(self.spec, app=None)
        env_file = self.spec.run_dir / "app-env.json" if runs else None
        inner = [sys.executable, "-m", "pilotfish", "agent", *agent_arguments(spec, env_file)]
        return in_netns(self.spec.netns, inner)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        return env | agent_environment(self.spec)

    def _write_app_env(self) -> None:
        app, proxy = self.spec.app, self.spec.proxy
        if app is None:
            return
        env: dict[str, str] = {}
        if self.spec.mesh_config is not None:
            ports = [c for c, _ in proxy.app_ports]
            env |= tcp_service_env(proxy.ip, proxy.namespace, ports, self.spec.mesh_config)
        write_private(self.spec.run_dir / "app-env.json", env_file_text(env | dict(app.env)))

    async def start(self) -> None:
        self.spec.run_dir.mkdir(parents=True, exist_ok=True)
        if self.spec.volume_error:  # the kubelet leaves every container waiting
            return
        self.bridge = AdminBridge(self.spec.netns, self.spec.proxy.ip)
        await self.bridge.start()
        self._task = asyncio.create_task(
            supervise(self.agent, self._launch, lambda: self._stopping, self.name)
        )
        app = self.spec.app
        if app is not None and not app.config_error:
            self.prober = container_prober(self.spec, app, self._app_run, self._kill_app, _noop)
            if self.prober is not None:
                self.prober.start()
        if self.spec.siblings:  # started inside the pod, as the kubelet starts its containers
            self.siblings = Siblings(
                self.spec, probes_at=f"http://{self.spec.proxy.ip}:{MERGED_PORT}"
            )
            if self.spec.sidecar and self.spec.hold_application:  # after the proxy's postStart
                self._held = asyncio.create_task(self._siblings_once_ready(self.siblings))
            else:
                self.siblings.start()

    async def _siblings_once_ready(self, siblings: Siblings) -> None:
        await until_envoy_ready(self.spec.proxy.ip, lambda: self._stopping)
        if not self._stopping:
            siblings.start()

    async def _launch(self) -> asyncio.subprocess.Process:
        (self.spec.run_dir / "agent.json").unlink(missing_ok=True)  # the last run's children
        self._write_app_env()
        if self.spec.bootstrap_override:  # what Istio mounts from the ConfigMap
            write_private(override_file(self.spec.run_dir), self.spec.bootstrap_override)
        return await spawn(self.argv(), self.environment(), self.spec.run_dir / "agent.log")

    def _app_run(self) -> Run | None:
        """The app's current run, as its agent last wrote it (pid, and since when)."""
        status = self.child_status()
        pid, since = status.get("app_pid"), status.get("app_running_since")
        if not isinstance(pid, int) or not pid_alive(pid):
            return None
        if self._run is None or self._run[0] != pid:  # a new run: when it started, once
            self._run = pid, time.monotonic() - (time.time() - float(since or time.time()))
        return self._run

    async def _kill_app(self, grace: float) -> None:
        """What the kubelet does to a container that failed its probe: SIGTERM, SIGKILL after
        `grace` seconds; the agent inside the pod restarts it (its restartPolicy, its
        back-off)."""
        run = self._app_run()
        if run is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run[0], signal.SIGTERM)
        deadline = time.monotonic() + grace
        while pid_alive(run[0]) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            if pid_alive(run[0]):
                os.killpg(run[0], signal.SIGKILL)

    async def is_ready(self) -> bool:
        if self.spec.app is not None and self.spec.app.config_error:
            return False
        process = self.agent.process
        if process is None or process.returncode is not None:
            return False
        proxy = self.spec.proxy
        if not await asyncio.to_thread(envoy_ready, proxy.ip):
            return False
        if self.siblings is not None and not await self.siblings.ready():
            return False
        status = self.child_status()
        if status.get("app_done") or (self.spec.app is not None and not status["app_pid"]):
            return False  # its app container ended (restartPolicy) or is not running
        if self.prober is not None and not self.prober.started:  # its startupProbe first
            return False
        probe = self.spec.readiness
        if probe is not None:
            if time.monotonic() - self.agent.started_at < probe.initial_delay_seconds:
                return False
            if not through_agent(self.spec, probe):  # not rewritten: straight at the pod
                return (await kubelet_check(self.spec)(probe)).ok
            url = f"http://{proxy.ip}:{MERGED_PORT}/app-health/{probe.container}/readyz"
            return await asyncio.to_thread(http_ok, url, probe.timeout_seconds + 1)
        return listening(process.pid, [port for port, _ in proxy.app_ports])

    def child_status(self) -> dict[str, Any]:
        """The agent's pid and restarts, its children's (from its `agent.json`), and where the
        host reaches its Envoy's admin."""
        status: dict[str, Any] = {"envoy_pid": None, "app_pid": None}
        status |= {"envoy_restarts": 0, "app_restarts": 0}
        status |= {"envoy_restarted_at": None, "app_restarted_at": None}
        status |= {"app_exit_code": None, "app_finished_at": None, "app_done": False}
        status |= {"app_running_since": None, "app_last_started_at": None, "app_waiting": ""}
        status |= {"app_events": []}
        with contextlib.suppress(OSError, ValueError):
            written = json.loads((self.spec.run_dir / "agent.json").read_text())
            status |= {k: written.get(k, status[k]) for k in status}
        if self.prober is not None:  # the kubelet's probes of the app, run here
            probed = self.prober.status()
            status |= {f"app_{k}": v for k, v in probed.items() if k != "events"}
            both = [*status["app_events"], *probed.get("events", [])]
            status["app_events"] = sorted(both, key=lambda e: float(e["last"]))
        if self.siblings is not None:
            status["containers"] = self.siblings.status()
        process = self.agent.process
        status["agent_pid"] = process.pid if process is not None else None
        status["agent_restarts"] = self.agent.restarts
        if self.bridge is not None and self.bridge.server is not None:
            status["admin"] = self.bridge.address
        return status

    async def drain_listeners(self) -> None:
        """SIGTERM: the agent drains its Envoy for `terminationDrainDuration`, then stops."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        self._stopping = True
        process = self.agent.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            self._signalled = True

    async def stop(self) -> None:
        """Wait for the draining agent to exit (a stop without a drain asks it twice, which
        cuts its drain short); kill its process group past the grace period."""
        if not self._signalled:
            self._signal(signal.SIGTERM)
            await asyncio.sleep(0.1)
            self._signal(signal.SIGTERM)
        self._stopping = True
        if self.prober is not None:
            await self.prober.stop()
        process = self.agent.process
        if process is not None:
            try:
                past_drain = max(STOP_GRACE, stop_grace(self.spec) + 2)  # the app's grace, Envoy's
                await asyncio.wait_for(process.wait(), self.spec.termination_drain + past_drain)
            except TimeoutError:
                log.warning("%s: agent did not stop in time; killing it", self.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        for task in (self._task, self._held):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.siblings is not None:  # with the app: after the drain
            await self.siblings.stop()
        if self.bridge is not None:
            await self.bridge.stop()


def _noop() -> None:
    """Its status is read when asked (`child_status`): nothing to write on a change."""
