"""`Agent`: one workload instance's pilot-agent. Writes Envoy's bootstrap, starts Envoy and the
app (and the pod's other containers, `agent.containers`), restarts Envoy if it dies and the app
as the pod's restartPolicy says (with backoff, like a kubelet), reports readiness (Envoy's
/ready says LIVE and the app's readiness probe passes, or without one, the app accepts
connections), runs the app's startup and liveness probes as the kubelet (`pod_probes`: a
container that fails them is killed and restarted), serves the merged metrics and
`/app-health/<container>/<readyz|livez|startupz>` on 15020 (`metrics`, `pod_probes`) and stops
everything cleanly.

With an `IdentitySpec` it also obtains the workload certificate (`identity`) and serves it to
its Envoy over SDS on a unix socket (`sds`). A workload without a sidecar (Istio's
`sidecar.istio.io/inject: "false"`) runs only its app, listening on the instance address itself.

In a captured pod (`Proxy.captured`, the isolated mode) Envoy runs as Istio's proxy uid and gid
1337 (which the capture rules let through, `processes.setpriv_prefix`) and the app, with its real
group, on its own ports with no proxy variables. There the agent itself runs inside the pod
(`pilotfish agent`, see `pilotfish.agent.run`). A pod without a sidecar may be run from outside
its namespace (`netns`): the app is started inside it, and its readiness is its listening
socket, read from /proc. The agent writes its children's pids and restarts to `agent.json` in
its run dir.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pilotfish.agent.bootstrap import BootstrapSettings, admin_host, bootstrap_json
from pilotfish.agent.containers import Siblings, container_row, name_containers, proxy_row
from pilotfish.agent.environment import envoy_environment
from pilotfish.agent.envoy_admin import (
    admin_get,
    admin_post,
    envoy_ready,
    listening,
    live_epoch,
    until_envoy_ready,
)
from pilotfish.agent.hot_restart import DRAIN_FLAGS, HotRestart
from pilotfish.agent.identity import IdentityManager, WorkloadSecret
from pilotfish.agent.kubelet_probes import ContainerProber, Run
from pilotfish.agent.metrics import MergedMetrics, agent_series
from pilotfish.agent.pod_files import write_mounted
from pilotfish.agent.pod_probes import app_health, container_prober, kubelet_check, through_agent
from pilotfish.agent.ports import ADMIN_PORT, MERGED_PORT, STATS_PORT
from pilotfish.agent.processes import ChildState, spawn, supervise, tcp_open, terminate
from pilotfish.agent.sds import SdsServer, sds_socket_path
from pilotfish.agent.spec import (
    AgentSpec,
    app_argv,
    app_env,
    dns_resolvers,
    envoy_argv,
    source_address,
    stop_grace,
    xds_tls,
)
from pilotfish.ca.certs import load_certs, summarize
from pilotfish.capture.rules import PROXY_UID
from pilotfish.config.proxy_stats import NOT_SET, inclusion_lists
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.state_files import write_atomically
from pilotfish.telemetry import identity_env

log = logging.getLogger("pilotfish.agent")


@dataclass
class Agent:
    spec: AgentSpec
    envoy: ChildState = field(default_factory=lambda: ChildState("envoy"))
    app: ChildState = field(default_factory=lambda: ChildState("app"))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False
    _metrics: MergedMetrics | None = None
    sds: SdsServer | None = None
    identity: IdentityManager | None = None
    hot: HotRestart | None = None  # a gateway's Envoy restarts in place (`hot_restart`)
    _retiring: list[asyncio.subprocess.Process] = field(default_factory=list)  # old epochs
    _restarting: asyncio.Lock = field(default_factory=asyncio.Lock)
    siblings: Siblings | None = None  # the pod's other containers (`agent.containers`)
    prober: ContainerProber | None = None  # its app's startup and liveness probes

    def __post_init__(self) -> None:
        name_containers(self.spec, self.app, self.envoy)  # as the kubelet's messages name them
        if self.spec.proxy.type is ProxyType.ROUTER and self.spec.sidecar and not self.spec.netns:
            self.hot = HotRestart(self.spec.run_dir, self.spec.termination_drain)
        if self.spec.siblings:
            self.siblings = Siblings(self.spec, self._write_status)
        if self.spec.app is not None:  # the kubelet's startup and liveness probes of the app
            self.prober = container_prober(
                self.spec, self.spec.app, self._app_run, self._kill_app, self._write_status
            )

    @property
    def name(self) -> str:
        return self.spec.proxy.instance

    async def start(self) -> None:
        self.spec.run_dir.mkdir(parents=True, exist_ok=True)
        if self.hot is not None:  # a base id of an earlier run may be another Envoy's by now
            self.hot.base_id_path.unlink(missing_ok=True)
        runs_app = self.spec.app is not None and not self.spec.app.config_error
        if self.spec.volume_error:  # the kubelet leaves every container waiting
            log.warning("%s: not started: %s", self.name, self.spec.volume_error)
            return
        held = self.spec.sidecar and self.spec.hold_application
        if self.prober is not None and runs_app:  # its probes wait for the app to run
            self.prober.start()
        if self.siblings is not None and not held:
            self.siblings.start()
        write_mounted(self.spec.run_dir, self.spec.proxy_files)
        if not self.spec.sidecar:
            if runs_app:
                self._tasks.append(asyncio.create_task(self._supervise(self.app)))
            return
        socket = ""
        if self.spec.identity is not None:
            self.sds = SdsServer(sds_socket_path(self.spec.run_dir), self.spec.run_dir)
            await self.sds.start()
            socket = str(self.sds.socket_path)
            self.identity = IdentityManager(self.spec.identity, self._new_secret)
            self._tasks.append(asyncio.create_task(self.identity.run()))
            self._tasks.append(asyncio.create_task(self.identity.watch_roots()))
        settings = BootstrapSettings(
            declaring_identity_env(self.spec.proxy),
            self.spec.xds_host,
            self.spec.xds_port,
            self.spec.delta,
            socket,
            extra_metadata=self.spec.extra_metadata,
            xds_tls=xds_tls(self.spec.control_plane_tls),
            stats_lists=inclusion_lists(
                self.spec.stats_inclusion or NOT_SET, (self.spec.proxy.ip,)
            ),
            source_address=source_address(self.spec),
            admin_address=self.spec.admin_ip,
            dns_resolvers=dns_resolvers(dict(os.environ)),
            zipkin_cluster=bool(self.spec.bootstrap_override),
        )
        write_atomically(self.spec.run_dir / "envoy.json", bootstrap_json(settings))
        proxy = self.spec.proxy
        self._tasks.append(asyncio.create_task(self._supervise(self.envoy)))
        if held:  # holdApplicationUntilProxyStarts: the app containers once Envoy is ready
            self._tasks.append(asyncio.create_task(self._apps_once_ready(runs_app)))
        elif runs_app:  # else it waits in CreateContainerConfigError, as a kubelet leaves it
            self._tasks.append(asyncio.create_task(self._supervise(self.app)))
        if self.spec.netns:  # 15020 is served inside the pod, by `pilotfish agent`
            return
        self._metrics = MergedMetrics(
            proxy.ip,
            f"http://{proxy.ip}:{STATS_PORT}/stats/prometheus",
            self.spec.app_metrics,
            self.agent_metrics,
            self.app_health,
        )
        try:
            await self._metrics.start()
        except OSError as exc:  # the mesh still works; only the merged endpoint is missing
            log.error("%s: cannot serve merged metrics on %s: %s", self.name, MERGED_PORT, exc)
            self._metrics = None

    def _new_secret(self, secret: WorkloadSecret) -> None:
        assert self.sds is not None
        self.sds.update(secret)
        leaf = summarize(load_certs(secret.chain_pem)[0])
        status = {
            "identity": list(leaf.identities),
            "serial": leaf.serial,
            "not_before": leaf.not_before,
            "not_after": leaf.not_after,
            "issuer": leaf.issuer,
            "key": leaf.key,
            "roots": len(load_certs(secret.roots_pem)),
            "issued": self.identity.issued if self.identity else 0,
        }
        write_atomically(self.spec.run_dir / "identity.json", json.dumps(status, indent=1))

    async def _launch(self, child: ChildState) -> asyncio.subprocess.Process:
        logs = self.spec.run_dir
        captured = self.spec.proxy.captured
        if child is self.envoy:
            if self.hot is not None:
                restart = self.hot.flags()
            else:
                restart = ["--disable-hot-restart", *DRAIN_FLAGS]
            argv = envoy_argv(self.spec, restart)
            proxy = PROXY_UID if captured else None  # Istio's istio-proxy, uid and gid 1337
            env = envoy_environment(self.spec, dict(os.environ))
            env |= identity_env.proxy_environment(self.spec.proxy)
            running = self.envoy.process is not None and self.envoy.process.returncode is None
            return await spawn(
                argv, env, logs / "envoy.log", group=proxy, user=proxy, new_run=not running
            )  # a hot restart (the old Envoy still runs) is no new run of the container
        assert self.spec.app is not None
        return await spawn(
            app_argv(self.spec),
            app_env(self.spec),
            logs / "app.log",
            cwd=self.spec.app.workdir,
            group=os.getgid() if captured else None,  # not the proxy's gid the agent may hold
            new_run=True,
        )

    def child_status(self) -> dict[str, Any]:
        """The pids, restarts and last restart times of Envoy and the app, how the app's last
        run ended, and the other containers' (`containers`): what `agent.json` holds."""
        app = {f"app_{k}": v for k, v in container_row(self.app, self.prober).items()}
        return {
            **proxy_row(self.envoy),
            **app,
            **({"containers": self.siblings.status()} if self.siblings is not None else {}),
        } | ({"admin": f"{self.spec.admin_ip}:{ADMIN_PORT}"} if self.spec.admin_ip else {})

    async def _apps_once_ready(self, runs_app: bool) -> None:
        """Istio's holdApplicationUntilProxyStarts: the injector puts the proxy first with a
        postStart hook that waits for its readiness, so the app containers start after it."""
        await until_envoy_ready(self.spec.proxy.ip, lambda: self._stopping)
        if self._stopping:
            return
        log.info("%s: Envoy ready: the app starts (holdApplicationUntilProxyStarts)", self.name)
        if self.siblings is not None:
            self.siblings.start()
        if runs_app:
            await self._supervise(self.app)

    async def _supervise(self, child: ChildState) -> None:
        def exited() -> None:
            if child is self.envoy and self.hot is not None:
                self.hot.epoch = 0  # no parent left: a fresh start on the same base id

        await supervise(
            child,
            lambda: self._launch(child),
            lambda: self._stopping,
            self.name,
            on_start=self._write_status,
            wait=lambda: _current_exit(child),
            on_exit=exited,
            policy="Always" if child is self.envoy else self.spec.restart_policy,
        )

    def _write_status(self) -> None:
        status = json.dumps(self.child_status(), indent=1)
        try:
            write_atomically(self.spec.run_dir / "agent.json", status)
        except OSError as exc:
            log.warning("%s: cannot write agent.json: %s", self.name, exc)

    async def is_ready(self) -> bool:
        """Envoy is LIVE (with a sidecar) and the app is ready: its readiness probe passes, or,
        without one, every port it serves accepts connections."""
        proxy = self.spec.proxy
        if self.spec.app is not None and self.spec.app.config_error:
            return False
        if self.siblings is not None and not await self.siblings.ready():
            return False
        if self.app.done:  # ended for good (restartPolicy): a container that is not ready
            return False
        if self.prober is not None and not self.prober.started:  # its startupProbe first
            return False
        if self.spec.netns:  # a pod run from outside its namespace: its sockets
            app = self.app.process
            ports = [real for _, real in proxy.app_ports]
            if ports and (app is None or not listening(app.pid, ports)):
                return False
            return not self.spec.sidecar or await asyncio.to_thread(envoy_ready, proxy.ip)
        host = "127.0.0.1" if self.spec.sidecar else proxy.ip
        if self.spec.sidecar and not await asyncio.to_thread(envoy_ready, proxy.ip):
            return False
        readiness = self.spec.readiness
        if readiness is not None and (
            readiness.kind == "exec"
            or (self.spec.sidecar and not through_agent(self.spec, readiness))
        ):  # the kubelet's own: a command in the app, or through the sidecar's inbound
            if time.monotonic() - self.app.started_at < readiness.initial_delay_seconds:
                return False
            return (await kubelet_check(self.spec)(readiness)).ok
        if readiness is not None:
            return 200 <= await self.app_health(readiness.container) < 400
        return all([await tcp_open(host, real) for _, real in proxy.app_ports])

    async def app_health(self, container: str, endpoint: str = "readyz") -> int:
        """What 15020 answers for `/app-health/<container>/<endpoint>` (`pod_probes`): for its
        app's readiness, 500 too while the app is not running or before its probe's
        `initialDelaySeconds` (another container's runs elsewhere: its caller waits)."""
        own = self.spec.readiness
        if endpoint == "readyz" and own is not None and own.container == container:
            if self.app.process is None:
                return 500
            if time.monotonic() - self.app.started_at < own.initial_delay_seconds:
                return 500
        return await app_health(self.spec, container, endpoint)

    def _app_run(self) -> Run | None:
        process = self.app.process
        running = process is not None and process.returncode is None
        return (process.pid, self.app.started_at) if running and process is not None else None

    async def _kill_app(self, grace: float) -> None:
        if self.app.process is not None:
            await terminate(self.app.process, grace)

    def agent_metrics(self) -> str:
        """The agent's own series in the merged output (`metrics.agent_series`)."""
        current = self.identity.current if self.identity is not None else None
        expiry = current.not_after if current is not None else None
        return agent_series(self.envoy.restarts, self.app.restarts, expiry)

    async def drain_listeners(self) -> None:
        """What Istio's pilot-agent does on SIGTERM: Envoy drains its listeners (a sidecar its
        inbound ones only, a gateway all of them) — responses ask clients to close their
        connections, then the listeners close — while requests in flight finish."""
        if not self.spec.sidecar or self.envoy.process is None or self.spec.netns:
            return  # (run from outside its pod, the agent cannot reach the pod's localhost)
        query = "inboundonly&graceful" if self.spec.proxy.type is ProxyType.SIDECAR else "graceful"
        host = self.spec.admin_ip or admin_host(self.spec.proxy)
        if not await asyncio.to_thread(admin_post, host, f"/drain_listeners?{query}"):
            log.warning("%s: Envoy did not accept the drain request", self.name)

    async def hot_restart(self, timeout: float = 30.0) -> int | None:
        """Restart a gateway's Envoy without losing a request (see `agent.hot_restart`): the
        new epoch once it is LIVE, or None (no hot restart here, or the new Envoy failed:
        the old one keeps serving)."""
        async with self._restarting:
            old = self.envoy.process
            if self.hot is None or old is None or old.returncode is not None or self._stopping:
                return None
            for parent in self._retiring:  # Envoy restarts one epoch at a time
                await parent.wait()
            self.hot.epoch += 1
            try:
                new = await self._launch(self.envoy)
            except OSError as exc:
                log.error("%s: cannot start a new Envoy: %s", self.name, exc)
                self.hot.epoch -= 1
                return None
            self.envoy.process = new  # the supervisor follows the new one once the old exits
            self._write_status()
            self._retiring.append(old)
            self._tasks.append(asyncio.create_task(self._retire(old)))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and new.returncode is None:
                host = self.spec.admin_ip or self.spec.proxy.ip
                info = await asyncio.to_thread(admin_get, host, "/server_info")
                if live_epoch(info) == self.hot.epoch:
                    log.info("%s: Envoy hot restarted (epoch %d)", self.name, self.hot.epoch)
                    return self.hot.epoch
                await asyncio.sleep(0.1)
            log.error("%s: the new Envoy (epoch %d) did not start", self.name, self.hot.epoch)
            return None

    async def _retire(self, old: asyncio.subprocess.Process) -> None:
        await old.wait()
        self._retiring.remove(old)

    async def stop(self) -> None:
        self._stopping = True
        if self.prober is not None:
            await self.prober.stop()
        if self._metrics is not None:
            await self._metrics.stop()
        for process in list(self._retiring):
            await terminate(process)
        if self.siblings is not None:  # the app containers first, then their proxy
            await self.siblings.stop()
        for child in (self.app, self.envoy):  # the app first, then its proxy
            if child.process is not None:  # SIGKILL past the pod's grace period
                await terminate(child.process, stop_grace(self.spec))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.sds is not None:
            await self.sds.stop()
        if self.hot is not None:
            self.hot.cleanup()


async def _current_exit(child: ChildState) -> int:
    """The exit code of the child's process, following a hot restart to the new one."""
    while True:
        process = child.process
        assert process is not None
        code = await process.wait()
        if child.process is process:
            return code


def declaring_identity_env(proxy: Proxy) -> Proxy:
    """The proxy as its bootstrap's node metadata describes it: declaring the identity
    variables `_launch` gives its Envoy (`telemetry.identity_env`)."""
    declared = tuple(sorted(identity_env.proxy_environment(proxy).items()))
    return replace(proxy, identity_env=declared)
