"""`Mesh`: what `pilotfish up` runs. Starts the control plane, the ingress gateway and one agent
(Envoy + app) per workload instance; keeps them running (a kubelet's job: reconcile the
manifest, restart what dies, report ready instances to the control plane); stops all of it.

Each agent gets a bearer token the control plane issues for its instance (kept in
`run/<NAME.NS>/istio-token`, mode 0600) to obtain its workload certificate. The launcher talks
to the write API with the owner's token (`control_plane`); what each agent runs is built from
the manifest in `specs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from pilotfish.agent.hot_restart import sweep_stale_regions
from pilotfish.agent.sidecar import Agent
from pilotfish.agent.spec import AgentSpec
from pilotfish.ca.storage import write_private
from pilotfish.capture.rules import CaptureError
from pilotfish.local import MeshError, prometheus
from pilotfish.local.admin_bridge import bridge_address
from pilotfish.local.client import mesh_file, write_mesh_file, write_proxy_env
from pilotfish.local.collectors import TraceCollectors
from pilotfish.local.control_plane import ControlPlaneProcess
from pilotfish.local.network import MeshNetwork, load_or_choose
from pilotfish.local.node import node_allocatable
from pilotfish.local.pod_agent import PodAgent
from pilotfish.local.pods import IsolatedPods, check_annotations
from pilotfish.local.restarts import InPlaceRestarts
from pilotfish.local.specs import (
    SpecContext,
    agent_spec,
    gateway_proxy,
    in_istio_system,
    same_workload,
    wanted_specs,
)
from pilotfish.model.proxy import ProxyType
from pilotfish.registry.inputs import manifest_of
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.mesh_config import MeshSettings

log = logging.getLogger("pilotfish.up")

MIN_EDS_WAIT = 2.0  # seconds a leaving pod waits at most for EDS, even with no drain
FAILURE_THRESHOLD = 3  # Kubernetes' readinessProbe default


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
    control_plane: ControlPlaneProcess = field(init=False)
    manifest_version: int = -1
    reported: list[dict[str, Any]] | None = None
    registry_generation = 0  # the control plane's number for our latest instance report
    started: float = field(default_factory=time.monotonic)
    ready_after: float = 0.0
    created: dict[str, float] = field(default_factory=dict)  # pod -> wall-clock start (AGE)
    ready_pods: set[str] = field(default_factory=set)  # pods whose last readiness check passed
    mesh_settings: MeshSettings = field(default_factory=MeshSettings)
    manifest: Manifest | None = None  # the last one reconciled
    collectors: TraceCollectors = field(init=False)
    terminating: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # pods draining
    probe_failures: dict[str, int] = field(default_factory=dict)  # pod -> failed checks in a row
    pods: IsolatedPods | None = None  # the isolated mode's namespaces and bridge
    restarts: InPlaceRestarts = field(default_factory=InPlaceRestarts)  # `rollout restart`
    allocatable: tuple[int, int] = field(default_factory=node_allocatable)  # the Downward API's
    serving: bool = True  # istiod's part of the control plane (`controlplane.removal`)

    def __post_init__(self) -> None:
        self.control_plane = ControlPlaneProcess(self.options.state_dir)
        self.collectors = TraceCollectors(self.options.state_dir)

    @property
    def run_dir(self) -> Path:
        return self.options.state_dir / "run"

    # ---- start ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(sweep_stale_regions)  # left by meshes killed outright
        self.network = load_or_choose(self.options.state_dir, self.options.isolated)
        if self.options.isolated:
            self.pods = IsolatedPods.for_mesh(self.network.block, self.options.state_dir)
            try:
                await self.pods.create()
            except CaptureError as exc:
                self.pods = None
                raise MeshError(str(exc)) from None
        await self.control_plane.start(self.network)
        log.info("control plane ready after %.2f s", time.monotonic() - self.started)
        if self.options.files:
            status, body = await self.control_plane.call(
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

    @property
    def _spec_context(self) -> SpecContext:
        return SpecContext(
            self.network,
            self.options.state_dir,
            self.mesh_settings,
            self.options.delta,
            self.options.env_drain,
            self.pods,
            self.options.ingress_address,
            self.allocatable,
        )

    async def _start_gateway(self) -> None:
        proxy = gateway_proxy(self.network, self.options.ingress_address)
        spec = agent_spec(self._spec_context, proxy, None)
        if self.pods is not None:  # its address is on the pods' bridge, its admin is not
            spec = replace(spec, admin_ip=bridge_address(proxy.ip))
        await self._start_agent(spec)

    async def _issue_token(self, spec: AgentSpec) -> None:
        """The control plane's credential for this instance's agent, in a 0600 file."""
        if spec.identity is None:
            return
        proxy = spec.proxy
        status, body = await self.control_plane.call(
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
        write_proxy_env(spec, self._spec_context.host_ip)  # what `exec -c istio-proxy` sees
        # an isolated pod's sidecar: its agent runs as its own process inside the pod
        agent = PodAgent(spec) if spec.netns and spec.sidecar else Agent(spec)
        self.agents[spec.proxy.pod_name] = agent
        self.specs[spec.proxy.pod_name] = spec
        self.created[spec.proxy.pod_name] = time.time()
        await agent.start()

    # ---- reconcile ----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Make the running instances match the manifest held by the control plane."""
        status, body = await self.control_plane.call("GET", "/api/v1/manifest")
        if status != 200:
            return
        entries = list(body.get("entry_addresses") or [])  # ServiceEntries: not in the manifest
        same_entries = self.pods is None or entries == self.pods.entries
        if body["version"] == self.manifest_version and same_entries:
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
        if self.pods is not None:
            self.pods.cluster_ips = dict(body.get("cluster_ips") or {})
            self.pods.entries = entries
        await self.collectors.ensure(manifest, self.network.control_plane_ip)
        await self._follow_istiod(body.get("serving") is not False)
        wanted = wanted_specs(self._spec_context, manifest, self.specs)
        wanted = {n: s for n, s in wanted.items() if self.serving or not in_istio_system(s)}
        for name, spec in wanted.items():
            if name in self.agents and not same_workload(self.specs[name], spec):
                self._terminate(name)
        for name in [n for n in self.agents if n not in wanted and self.specs[n].app is not None]:
            self._terminate(name)
        for name, spec in wanted.items():
            if name not in self.agents:
                await self._start_agent(spec)
        self.network.save(self.options.state_dir / "network.json")
        if self.pods is not None:  # new services or instances: names resolve to new addresses
            await self.pods.refresh_hosts(manifest, self.network.instances)

    async def _follow_istiod(self, serving: bool) -> None:
        """istio-system's gateways go when istiod does (its namespace deleted), and come back
        with a control plane serving again (Istio's install)."""
        if not serving:
            for name in [n for n, spec in self.specs.items() if in_istio_system(spec)]:
                self._terminate(name)
        elif not self.serving and self.options.ingress_gateway:
            await self._start_gateway()
        self.serving = serving

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
                deadline = started + max(drain, MIN_EDS_WAIT)
                await self.control_plane.wait_synced(self.registry_generation, deadline)
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
        if self.pods is not None and self.manifest is not None:  # kube-proxy's part first
            await self.pods.sync_services(self.manifest, rows)
        if rows != self.reported or force:
            status, body = await self.control_plane.call(
                "PUT", "/api/v1/instances", {"instances": rows}
            )
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
        synced = await self.control_plane.synced_nodes(self.registry_generation)
        if synced is None:
            return False
        return all(
            a.spec.proxy.id in synced for a in self.agents.values() if a.spec.sidecar
        ) and all([await a.is_ready() for a in self.agents.values()])

    def write_status(self, ready: bool) -> None:
        proxies = write_mesh_file(self, ready)
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
                if not self.control_plane.running:
                    log.warning("control plane exited; restarting it")
                    await self.control_plane.start(self.network)
                    self.reported, self.manifest_version = None, -1
                await self.reconcile()
                self.restarts.take(self.run_dir, self.agents, lambda: self.write_status(True))
                force = time.monotonic() - last_force > 5
                await self.report_instances(force=force)
                if force:
                    last_force = time.monotonic()
                self.write_status(ready=True)
            except (aiohttp.ClientError, OSError, MeshError) as exc:
                log.warning("mesh loop: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)

    async def stop(self) -> None:
        await self.restarts.cancel()
        await asyncio.to_thread(prometheus.stop, self.options.state_dir)
        await self.collectors.stop()
        # `pilotfish down` drains as pods do (Envoys drain, then stop), all pods at once
        leaving = [self._drain_and_stop(n, a, in_eds=False) for n, a in self.agents.items()]
        await asyncio.gather(*leaving, *self.terminating.values(), return_exceptions=True)
        self.agents.clear()
        await self.control_plane.stop()
        if self.pods is not None:
            await self.pods.remove()
        mesh_file(self.options.state_dir).unlink(missing_ok=True)
