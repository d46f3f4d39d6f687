"""`Mesh`: what `pilotfish up` runs. Starts the control plane, the ingress gateway and one agent
(Envoy + app) per workload instance; keeps them running (a kubelet's job: reconcile the
manifest, restart what dies, report ready instances to the control plane); stops all of it.

Each agent gets a bearer token the control plane issues for its instance (kept in
`run/<NAME.NS>/istio-token`, mode 0600) to obtain its workload certificate. The launcher talks
to the write API with the owner's token (`<state>/admin-token`). Plug-in CA files in
`<state>/cacerts/` are handed to the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from pilotfish.agent.identity import IdentitySpec
from pilotfish.agent.metrics import app_scrape
from pilotfish.agent.processes import free_port, spawn, terminate
from pilotfish.agent.sidecar import Agent, AgentSpec, AppSpec
from pilotfish.ca.certs import key_algorithm
from pilotfish.ca.identity import DEFAULT_TRUST_DOMAIN, spiffe_id
from pilotfish.ca.storage import write_private
from pilotfish.capture.rules import CaptureError
from pilotfish.config.proxy_metadata import NOT_SET, ProxyMetadata
from pilotfish.local import prometheus
from pilotfish.local.network import (
    CP_HTTP_PORT,
    CP_TLS_PORT,
    CP_XDS_PORT,
    MeshNetwork,
    load_or_choose,
)
from pilotfish.local.pod_agent import PodAgent
from pilotfish.local.pods import INTERCEPTION_MODE, IsolatedPods, check_annotations
from pilotfish.local.restarts import RestartResult, take_requests
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.drain import termination_drain
from pilotfish.registry.inputs import manifest_of
from pilotfish.registry.manifest import Manifest, MeshSettings
from pilotfish.registry.workloads import WorkloadSpec
from pilotfish.state_files import STORE_FILE, read_admin_token, write_atomically
from pilotfish.telemetry.tracing import collector_ports

log = logging.getLogger("pilotfish.up")

GATEWAY_NAME, GATEWAY_NAMESPACE = "istio-ingressgateway", "istio-system"
GATEWAY_LABELS = (("app", "istio-ingressgateway"), ("istio", "ingressgateway"))
TOKEN_FILE = "istio-token"
MIN_EDS_WAIT = 2.0  # seconds a leaving pod waits at most for EDS, even with no drain
FAILURE_THRESHOLD = 3  # Kubernetes' readinessProbe default
CONTROL_PLANE_READY_SECONDS = 60  # generous: a loaded 2-core machine takes over 20 s


class MeshError(Exception):
    """The mesh could not start (the message says why)."""


@dataclass(frozen=True)
class UpOptions:
    state_dir: Path
    files: tuple[tuple[str, str], ...] = ()  # (source, text) to apply at start
    ingress_address: str = "127.0.0.1"
    delta: bool = False
    ready_timeout: float = 60.0
    ingress_gateway: bool = True  # `install` profiles `minimal` and `empty` run none
    env_drain: float | None = None  # TERMINATION_DRAIN_DURATION_SECONDS (`registry.drain`)
    isolated: bool = False  # a network namespace per pod, traffic captured (root: `pods`)


@dataclass
class Mesh:
    options: UpOptions
    network: MeshNetwork = field(init=False)
    agents: dict[str, Agent | PodAgent] = field(default_factory=dict)
    specs: dict[str, AgentSpec] = field(default_factory=dict)
    control_plane: asyncio.subprocess.Process | None = None
    manifest_version: int = -1
    reported: list[dict[str, Any]] | None = None
    registry_generation = 0  # the control plane's number for our latest instance report
    started: float = field(default_factory=time.monotonic)
    ready_after: float = 0.0
    created: dict[str, float] = field(default_factory=dict)  # pod -> wall-clock start (AGE)
    ready_pods: set[str] = field(default_factory=set)  # pods whose last readiness check passed
    control_plane_created: float = 0.0
    http: aiohttp.ClientSession | None = None
    mesh_settings: MeshSettings = field(default_factory=MeshSettings)
    manifest: Manifest | None = None  # the last one reconciled
    collectors: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    terminating: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # pods draining
    probe_failures: dict[str, int] = field(default_factory=dict)  # pod -> failed checks in a row
    pods: IsolatedPods | None = None  # the isolated mode's namespaces and bridge
    restarts: dict[str, RestartResult] = field(default_factory=dict)  # pod -> last restart
    restarting: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def api(self) -> str:
        return f"http://{self.network.control_plane_ip}:{CP_HTTP_PORT}"

    @property
    def mesh_proxy_metadata(self) -> ProxyMetadata:
        return self.mesh_settings.proxy

    @property
    def trust_domain(self) -> str:
        return self.mesh_settings.trust_domain or DEFAULT_TRUST_DOMAIN

    @property
    def run_dir(self) -> Path:
        return self.options.state_dir / "run"

    # ---- start ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        self.network = load_or_choose(self.options.state_dir, self.options.isolated)
        if self.options.isolated:
            self.pods = IsolatedPods.for_mesh(self.network.block, self.options.state_dir)
            try:
                await self.pods.create()
            except CaptureError as exc:
                self.pods = None
                raise MeshError(str(exc)) from None
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self._start_control_plane()
        log.info("control plane ready after %.2f s", time.monotonic() - self.started)
        if self.options.files:
            status, body = await self._call(
                "POST", "/api/v1/apply", {"files": list(self.options.files), "wait": False}
            )
            if status != 200:
                raise MeshError(
                    "\n".join(d["text"] for d in body.get("diagnostics", [])) or str(body)
                )
        log.info("config applied after %.2f s", time.monotonic() - self.started)
        await self.reconcile()
        if self.options.ingress_gateway:
            await self._start_gateway()
        log.info("all agents started after %.2f s", time.monotonic() - self.started)
        await self._wait_ready()
        log.info(
            "all instances ready and proxies synced after %.2f s", time.monotonic() - self.started
        )
        self.ready_after = round(time.monotonic() - self.started, 2)
        self.write_status(ready=True)

    async def _start_control_plane(self) -> None:
        argv = [
            sys.executable, "-m", "pilotfish.controlplane",
            "--state-dir", str(self.options.state_dir),
            "--address", self.network.control_plane_ip,
            "--xds-port", str(CP_XDS_PORT),
            "--http-port", str(CP_HTTP_PORT),
            "--tls-port", str(CP_TLS_PORT),
        ]  # fmt: skip
        cacerts = self.options.state_dir / "cacerts"
        if cacerts.is_dir():
            argv += ["--cacerts", str(cacerts)]
        self.control_plane_created = time.time()
        self.control_plane = await spawn(
            argv, os.environ, self.options.state_dir / "logs" / "controlplane.log"
        )
        deadline = time.monotonic() + CONTROL_PLANE_READY_SECONDS
        while time.monotonic() < deadline:
            if self.control_plane.returncode is not None:
                log_path = self.options.state_dir / "logs" / "controlplane.log"
                raise MeshError(
                    f"the control plane exited: {_last_error(log_path)}; see {log_path}"
                )
            try:
                status, _ = await self._call("GET", "/ready")
                if status == 200:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.05)
        raise MeshError(
            f"the control plane did not become ready in {CONTROL_PLANE_READY_SECONDS} s"
        )

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.http is not None
        token = read_admin_token(self.options.state_dir)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.api + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def _start_gateway(self) -> None:
        proxy = Proxy(
            type=ProxyType.ROUTER,
            ip=self.network.gateway_ip,
            instance=f"{GATEWAY_NAME}-0",
            namespace=GATEWAY_NAMESPACE,
            labels=GATEWAY_LABELS,
            workload=GATEWAY_NAME,
            service_account=f"{GATEWAY_NAME}-service-account",
            gateway_address=self.options.ingress_address,
        )
        await self._start_agent(self._agent_spec(proxy, None))

    def _agent_spec(
        self,
        proxy: Proxy,
        app: AppSpec | None,
        sidecar: bool = True,
        drain: float | None = None,
        pod_metadata: ProxyMetadata = NOT_SET,
    ) -> AgentSpec:
        run_dir = self.run_dir / proxy.pod_name
        metadata = pod_metadata.over(self.mesh_proxy_metadata)
        identity = IdentitySpec(
            ca_address=f"{self.network.control_plane_ip}:{CP_XDS_PORT}",
            token_path=run_dir / TOKEN_FILE,
            uri=spiffe_id(self.trust_domain, proxy.namespace, proxy.service_account),
            ttl_seconds=metadata.secret_ttl_seconds or 0,
            key_algorithm=key_algorithm(metadata.key_algorithm),
        )
        return AgentSpec(
            proxy=proxy,
            xds_host=self.network.control_plane_ip,
            xds_port=CP_XDS_PORT,
            run_dir=run_dir,
            mesh_config=self.options.state_dir / STORE_FILE,
            app=app,
            delta=self.options.delta,
            identity=identity if sidecar else None,
            sidecar=sidecar,
            termination_drain=termination_drain(
                drain, self.mesh_settings.termination_drain, self.options.env_drain
            ),
        )

    async def _issue_token(self, spec: AgentSpec) -> None:
        """The control plane's credential for this instance's agent, in a 0600 file."""
        if spec.identity is None:
            return
        proxy = spec.proxy
        status, body = await self._call(
            "POST",
            "/api/v1/tokens",
            {
                "instance": proxy.instance,
                "namespace": proxy.namespace,
                "service_account": proxy.service_account,
            },
        )
        if status != 200:
            raise MeshError(f"no token for {proxy.instance}: {body}")
        write_private(spec.identity.token_path, str(body["token"]))

    async def _start_agent(self, spec: AgentSpec) -> None:
        leaving = self.terminating.get(spec.proxy.pod_name)
        if leaving is not None:  # its address and ports are free once it has stopped
            await asyncio.gather(leaving, return_exceptions=True)
        if spec.netns and self.pods is not None and self.manifest is not None:
            try:
                await self.pods.add_pod(self.manifest, self.network.instances, spec.proxy)
            except CaptureError as exc:
                raise MeshError(f"pod {spec.proxy.pod_name}: {exc}") from None
        await self._issue_token(spec)
        # an isolated pod's sidecar: its agent runs as its own process inside the pod
        agent = PodAgent(spec) if spec.netns and spec.sidecar else Agent(spec)
        self.agents[spec.proxy.pod_name] = agent
        self.specs[spec.proxy.pod_name] = spec
        self.created[spec.proxy.pod_name] = time.time()
        await agent.start()

    # ---- reconcile ----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Make the running instances match the manifest held by the control plane."""
        status, body = await self._call("GET", "/api/v1/manifest")
        if status != 200 or body["version"] == self.manifest_version:
            return
        manifest, _ = manifest_of(body["documents"])
        if self.pods is not None:
            try:
                check_annotations(manifest)
            except CaptureError as exc:
                raise MeshError(str(exc)) from None
        self.manifest_version = body["version"]
        self.mesh_settings = manifest.mesh
        self.manifest = manifest
        await self._ensure_collectors(manifest)
        wanted = self._wanted_specs(manifest)
        for name, spec in wanted.items():
            if name in self.agents and not _same_workload(self.specs[name], spec):
                self._terminate(name)
        for name in [n for n in self.agents if n not in wanted and self.specs[n].app is not None]:
            self._terminate(name)
        for name, spec in wanted.items():
            if name not in self.agents:
                await self._start_agent(spec)
        self.network.save(self.options.state_dir / "network.json")
        if self.pods is not None:  # new services or instances: names resolve to new addresses
            await self.pods.refresh_hosts(manifest, self.network.instances)

    async def _ensure_collectors(self, manifest: Manifest) -> None:
        """Start the trace collector on each port a tracing provider needs (see
        `telemetry.tracing.collector_ports`); it keeps running until the mesh stops."""
        hosts = {s.hostname for s in manifest.services}
        for port in collector_ports(manifest.telemetry.providers, hosts):
            process = self.collectors.get(port)
            if process is not None and process.returncode is None:
                continue
            argv = [
                sys.executable, "-m", "pilotfish.ui.collector",
                "--address", self.network.control_plane_ip,
                "--port", str(port),
                "--db", str(self.options.state_dir / "traces.sqlite"),
            ]  # fmt: skip
            log_path = self.options.state_dir / "logs" / "collector.log"
            self.collectors[port] = await spawn(argv, os.environ, log_path)
            log.info("trace collector on %s:%d", self.network.control_plane_ip, port)

    def _wanted_specs(self, manifest: Manifest) -> dict[str, AgentSpec]:
        """Keyed `NAME.NAMESPACE`: `sleep-0` may run in `default` and in `foo` at once."""
        wanted: dict[str, AgentSpec] = {}
        for workload in manifest.workloads:
            for instance in workload.instance_names():
                key = f"{instance}.{workload.namespace}"
                wanted[key] = self._instance_spec(workload, instance, self.specs.get(key))
        return wanted

    def _instance_spec(
        self, workload: WorkloadSpec, instance: str, old: AgentSpec | None
    ) -> AgentSpec:
        reuse = dict(old.proxy.app_ports) if old else {}
        if not workload.sidecar or self.pods is not None:  # the app listens on its own port
            reuse = {p: p for p in workload.ports}
        proxy = Proxy(
            type=ProxyType.SIDECAR,
            ip=self.network.ip_for(f"{instance}.{workload.namespace}"),
            instance=instance,
            namespace=workload.namespace,
            labels=workload.labels,
            workload=workload.name,
            service_account=workload.service_account,
            app_ports=tuple((p, reuse.get(p) or free_port()) for p in workload.ports),
            interception=INTERCEPTION_MODE if self.pods is not None and workload.sidecar else "",
        )
        app = AppSpec(workload.command, workload.env, workload.workdir)
        spec = self._agent_spec(
            proxy, app, workload.sidecar, workload.termination_drain, workload.proxy_metadata
        )
        if self.pods is not None:
            spec = replace(spec, netns=self.pods.netns_name(proxy.pod_name))
        metrics = app_scrape(dict(workload.annotations), proxy.app_ports)
        return replace(spec, app_metrics=metrics, readiness=workload.readiness)

    def _terminate(self, name: str) -> None:
        """A pod leaves as in Kubernetes + Istio, in the background: its endpoint leaves EDS
        first, then its sidecar drains for `terminationDrainDuration`, then it stops."""
        agent = self.agents.pop(name)
        self.specs.pop(name, None)
        self.probe_failures.pop(name, None)
        self.terminating[name] = asyncio.create_task(self._drain_and_stop(name, agent))

    async def _drain_and_stop(
        self, name: str, agent: Agent | PodAgent, in_eds: bool = True
    ) -> None:
        started = time.monotonic()
        drain = agent.spec.termination_drain
        try:
            if in_eds:
                log.info("%s: leaving the registry, then draining for %.1f s", name, drain)
                await self.report_instances()
                await self._wait_synced(started + max(drain, MIN_EDS_WAIT))
            await agent.drain_listeners()
            await asyncio.sleep(max(0.0, started + drain - time.monotonic()))
        except (aiohttp.ClientError, OSError, MeshError) as exc:
            log.warning("%s: draining: %s", name, exc)
        finally:
            await agent.stop()
            if agent.spec.netns and self.pods is not None:
                await self.pods.remove_pod(name)
            if self.terminating.get(name) is asyncio.current_task():
                del self.terminating[name]
            log.info("%s: stopped after %.1f s", name, time.monotonic() - started)

    async def _wait_synced(self, deadline: float) -> None:
        """Until the control plane has pushed our newest instance list and every proxy has
        ACKed what it holds (or the deadline)."""
        while time.monotonic() < deadline:
            status, body = await self._call("GET", "/debug/syncz")
            if (
                status == 200
                and body.get("registry_applied", 0) >= self.registry_generation
                and all(_synced(row) for row in body["proxies"])
            ):
                return
            await asyncio.sleep(0.05)

    # ---- readiness and status -------------------------------------------------------------------
    async def ready_instances(self) -> list[dict[str, Any]]:
        agents = dict(self.agents)  # pods may come and go while we wait
        checks = await asyncio.gather(*(a.is_ready() for a in agents.values()))
        results = [self._probe(name, ok) for name, ok in zip(agents, checks, strict=True)]
        self.ready_pods = {k for k, ok in zip(agents, results, strict=True) if ok}
        rows = []
        for agent, ready in zip(agents.values(), results, strict=True):
            proxy = agent.spec.proxy
            if proxy.type is ProxyType.SIDECAR and ready:
                rows.append(
                    {
                        "name": proxy.instance,
                        "workload": proxy.workload,
                        "namespace": proxy.namespace,
                        "address": proxy.ip,
                        "labels": dict(proxy.labels),
                        "service_account": proxy.service_account,
                        "ports": [c for c, _ in proxy.app_ports],
                        "sidecar": agent.spec.sidecar,
                    }
                )
        return rows

    def _probe(self, name: str, ok: bool) -> bool:
        """Kubernetes' readiness semantics: ready after one passing check, unready only after
        `FAILURE_THRESHOLD` failing ones in a row (a slow check on a busy machine must not
        take a pod out of every load balancer)."""
        if ok:
            self.probe_failures[name] = 0
            return True
        failures = self.probe_failures.get(name, FAILURE_THRESHOLD) + 1
        self.probe_failures[name] = failures
        return failures < FAILURE_THRESHOLD and name in self.ready_pods

    async def report_instances(self, force: bool = False) -> None:
        rows = await self.ready_instances()
        if rows != self.reported or force:
            status, body = await self._call("PUT", "/api/v1/instances", {"instances": rows})
            if status in (200, 202):
                self.reported = rows
                self.registry_generation = int(body.get("generation", 0))

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        while time.monotonic() < deadline:
            await self.report_instances()
            if (
                self.reported is not None
                and len(self.reported)
                == sum(1 for a in self.agents.values() if a.spec.app is not None)
                and await self._all_synced()
            ):
                return
            await asyncio.sleep(0.05)
        raise MeshError(
            f"the mesh was not ready after {self.options.ready_timeout:.0f} s; "
            f"logs in {self.options.state_dir}/logs and run/*/"
        )

    async def _all_synced(self) -> bool:
        status, body = await self._call("GET", "/debug/syncz")
        if status != 200 or body.get("registry_applied", 0) < self.registry_generation:
            return False
        synced = set()
        for row in body["proxies"]:
            if _synced(row):
                synced.add(row["node_id"])
            nacks = [t["last_nack"] for t in row["types"] if t.get("last_nack")]
            if nacks and row["node_id"] not in synced:
                name = row["node_id"].split("~")[2]
                raise MeshError(f"{name} rejected its config: {nacks[-1]['error_message']}")
        return all(
            a.spec.proxy.id in synced for a in self.agents.values() if a.spec.sidecar
        ) and all([await a.is_ready() for a in self.agents.values()])

    def write_status(self, ready: bool) -> None:
        proxies: dict[str, dict[str, Any]] = {
            name: {
                "id": a.spec.proxy.id,
                "instance": a.spec.proxy.instance,
                "app": a.spec.proxy.label_map.get("app", ""),
                "ready": name in self.ready_pods,
                "created": self.created.get(name, 0.0),
                "ip": a.spec.proxy.ip,
                "type": a.spec.proxy.type.value,
                "workload": a.spec.proxy.workload,
                "namespace": a.spec.proxy.namespace,
                "labels": dict(a.spec.proxy.labels),
                "outbound_port": a.spec.proxy.outbound_port,
                "run_dir": str(a.spec.run_dir),
                **a.child_status(),
                "app_ports": {str(c): real for c, real in a.spec.proxy.app_ports},
                "sidecar": a.spec.sidecar,
                "netns": a.spec.netns,
                "envoy_epoch": a.hot.epoch if isinstance(a, Agent) and a.hot else None,
                "restart": self.restarts[name].row() if name in self.restarts else None,
            }
            for name, a in sorted(self.agents.items())
        }
        info = {
            "pid": os.getpid(),
            "state_dir": str(self.options.state_dir),
            "api": self.api,
            "xds": f"{self.network.control_plane_ip}:{CP_XDS_PORT}",
            "block": self.network.block,
            "isolated": self.pods is not None,
            "ingress_address": self.options.ingress_address,
            "ready": ready,
            "startup_seconds": self.ready_after,
            "control_plane_pid": self.control_plane.pid if self.control_plane else None,
            "control_plane_created": self.control_plane_created,
            "proxies": proxies,
            "trace_collectors": [
                f"http://{self.network.control_plane_ip}:{port}"
                for port, process in sorted(self.collectors.items())
                if process.returncode is None
            ],
        }
        write_atomically(self.run_dir / "mesh.json", json.dumps(info, indent=1))
        if self.manifest is not None:  # keep a running Prometheus in step (targets, rules)
            prometheus.refresh(
                self.options.state_dir,
                self.network.control_plane_ip,
                proxies,
                self.manifest,
            )

    # ---- steady state and stop ---------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        last_force = time.monotonic()
        while not stop.is_set():
            try:
                if self.control_plane is None or self.control_plane.returncode is not None:
                    log.warning("control plane exited; restarting it")
                    await self._start_control_plane()
                    self.reported = None
                await self.reconcile()
                self._take_restart_requests()
                force = time.monotonic() - last_force > 5
                await self.report_instances(force=force)
                if force:
                    last_force = time.monotonic()
                self.write_status(ready=True)
            except (aiohttp.ClientError, OSError, MeshError) as exc:
                log.warning("mesh loop: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)

    def _take_restart_requests(self) -> None:
        """`pilotfish rollout restart`: a gateway's Envoy restarts in place (hot restart), in
        the background; the result goes to the pod's row of mesh.json."""
        for name, request in take_requests(self.run_dir):
            agent = self.agents.get(name)
            if agent is None or isinstance(agent, PodAgent) or agent.hot is None:
                why = "no such pod" if agent is None else "only a gateway restarts in place"
                self.restarts[name] = RestartResult(request, False, error=why)
                continue
            task = asyncio.create_task(self._restart(name, agent, request))
            self.restarting.add(task)
            task.add_done_callback(self.restarting.discard)

    async def _restart(self, name: str, agent: Agent, request: str) -> None:
        log.info("%s: restarting its Envoy in place (hot restart)", name)
        epoch = await agent.hot_restart()
        error = "" if epoch else f"the new Envoy did not start; see {agent.spec.run_dir}"
        self.restarts[name] = RestartResult(request, epoch is not None, epoch, error)
        log.info("%s: %s", name, f"restarted (epoch {epoch})" if epoch is not None else error)
        self.write_status(ready=True)

    async def stop(self) -> None:
        for task in list(self.restarting):
            task.cancel()
        await asyncio.gather(*self.restarting, return_exceptions=True)
        await asyncio.to_thread(prometheus.stop, self.options.state_dir)
        for process in self.collectors.values():
            await terminate(process)
        # `pilotfish down` drains as pods do (Envoys drain, then stop), all pods at once
        leaving = [self._drain_and_stop(n, a, in_eds=False) for n, a in self.agents.items()]
        await asyncio.gather(*leaving, *self.terminating.values(), return_exceptions=True)
        self.agents.clear()
        if self.control_plane is not None:
            await terminate(self.control_plane)
        if self.pods is not None:
            await self.pods.remove()
        if self.http is not None:
            await self.http.close()
        (self.run_dir / "mesh.json").unlink(missing_ok=True)


def _same_workload(a: AgentSpec, b: AgentSpec) -> bool:
    def key(s: AgentSpec) -> tuple[Any, ...]:
        ports = [c for c, _ in s.proxy.app_ports]
        return (
            s.proxy.labels, s.proxy.service_account, s.app, ports, s.sidecar, s.identity,
            s.readiness,
        )  # fmt: skip

    return key(a) == key(b)


def _synced(row: dict[str, Any]) -> bool:
    """A /debug/syncz row whose proxy has ACKed the newest version of every type."""
    acked = {t["type_url"]: t["acked_version"] for t in row["types"]}
    return all(acked.get(t) == v for t, v in row["latest"].items())


def _last_error(log_path: Path) -> str:
    """The control plane's last ERROR line (e.g. why it refused to start)."""
    try:
        lines = log_path.read_text().splitlines()
    except OSError:
        return "no log"
    errors = [line.split(": ", 1)[-1] for line in lines if " ERROR " in line]
    return errors[-1] if errors else "no error logged"
