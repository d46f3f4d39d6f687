"""What each agent of a local mesh runs, built from the manifest (a kubelet's pod specs): the
ingress gateway's proxy, one `AgentSpec` per workload instance (its address, app ports,
identity, drain, metrics scrape, readiness), and whether a running instance must be replaced.

The Downward API's per-pod env values (`registry.pod_fields`) are filled in here, per instance.
Pure apart from choosing app ports (`app_ports`) and new addresses (`MeshNetwork.ip_for`); the
node's capacity comes in `SpecContext.allocatable` (`local.node`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pilotfish.agent.identity import IdentitySpec
from pilotfish.agent.metrics import app_scrape, merges, scrape_annotations
from pilotfish.agent.spec import AgentSpec, AppSpec
from pilotfish.ca.certs import key_algorithm
from pilotfish.ca.identity import DEFAULT_TRUST_DOMAIN, spiffe_id
from pilotfish.config.proxy_metadata import NOT_SET, ProxyMetadata
from pilotfish.local.app_ports import app_port
from pilotfish.local.network import CP_XDS_PORT, MeshNetwork
from pilotfish.local.pods import INTERCEPTION_MODE, IsolatedPods
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.bootstrap_override import override_json
from pilotfish.registry.drain import termination_drain
from pilotfish.registry.host_ports import listens_on_host
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.mesh_config import MeshSettings
from pilotfish.registry.pod_fields import PodFacts, resolve
from pilotfish.registry.workloads import (
    INGRESS_GATEWAY,
    INGRESS_GATEWAY_ACCOUNT,
    INGRESS_GATEWAY_LABELS,
    INGRESS_GATEWAY_NAMESPACE,
    WorkloadSpec,
    ws_proxy_port,
)
from pilotfish.state_files import STORE_FILE

TOKEN_FILE = "istio-token"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # `rollout restart`'s mark on the template
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"  # the pod's own, if it says


@dataclass(frozen=True)
class SpecContext:
    """What every agent spec of one mesh depends on besides its workload."""

    network: MeshNetwork
    state_dir: Path
    settings: MeshSettings
    delta: bool = False
    env_drain: float | None = None  # TERMINATION_DRAIN_DURATION_SECONDS (`registry.drain`)
    pods: IsolatedPods | None = None  # the isolated mode's namespaces
    host_ip: str = "127.0.0.1"  # the node's address: pods' `status.hostIP` (`cli.kube_pods`)
    allocatable: tuple[int, int] = (1, 0)  # the node's (CPUs, memory bytes): `node_allocatable`

    @property
    def trust_domain(self) -> str:
        return self.settings.trust_domain or DEFAULT_TRUST_DOMAIN


def in_istio_system(spec: AgentSpec) -> bool:
    """A pod of istiod's namespace (a gateway): it goes when that namespace is deleted."""
    return spec.proxy.namespace == INGRESS_GATEWAY_NAMESPACE


def gateway_proxy(network: MeshNetwork, ingress_address: str) -> Proxy:
    """The ingress gateway (`istio-ingressgateway` in `istio-system`, as Istio installs it)."""
    return Proxy(
        type=ProxyType.ROUTER,
        ip=network.gateway_ip,
        instance=f"{INGRESS_GATEWAY}-0",
        namespace=INGRESS_GATEWAY_NAMESPACE,
        labels=INGRESS_GATEWAY_LABELS,
        workload=INGRESS_GATEWAY,
        service_account=INGRESS_GATEWAY_ACCOUNT,
        gateway_address=ingress_address,
    )


def agent_spec(
    ctx: SpecContext,
    proxy: Proxy,
    app: AppSpec | None,
    sidecar: bool = True,
    drain: float | None = None,
    pod_metadata: ProxyMetadata = NOT_SET,
) -> AgentSpec:
    run_dir = ctx.state_dir / "run" / proxy.pod_name
    metadata = pod_metadata.over(ctx.settings.proxy)
    identity = IdentitySpec(
        ca_address=f"{ctx.network.control_plane_ip}:{CP_XDS_PORT}",
        token_path=run_dir / TOKEN_FILE,
        uri=spiffe_id(ctx.trust_domain, proxy.namespace, proxy.service_account),
        ttl_seconds=metadata.secret_ttl_seconds or 0,
        key_algorithm=key_algorithm(metadata.key_algorithm),
    )
    return AgentSpec(
        proxy=proxy,
        xds_host=ctx.network.control_plane_ip,
        xds_port=CP_XDS_PORT,
        run_dir=run_dir,
        mesh_config=ctx.state_dir / STORE_FILE,
        app=app,
        delta=ctx.delta,
        identity=identity if sidecar else None,
        sidecar=sidecar,
        termination_drain=termination_drain(drain, ctx.settings.termination_drain, ctx.env_drain),
        # the mesh's `defaultConfig.proxyStatsMatcher` (a pod's own: `instance_spec`)
        stats_inclusion=ctx.settings.stats_inclusion,
    )


def wanted_specs(
    ctx: SpecContext, manifest: Manifest, running: Mapping[str, AgentSpec]
) -> dict[str, AgentSpec]:
    """Keyed `NAME.NAMESPACE`: `sleep-0` may run in `default` and in `foo` at once. A running
    instance keeps its app ports; a new one gets ports no other instance has (`app_ports`)."""
    taken = {real for spec in running.values() for _, real in spec.proxy.app_ports}
    wanted: dict[str, AgentSpec] = {}
    for workload in manifest.workloads:
        for instance in workload.instance_names():
            key = f"{instance}.{workload.namespace}"
            wanted[key] = instance_spec(ctx, workload, instance, running.get(key), taken)
    return wanted


def instance_spec(
    ctx: SpecContext,
    workload: WorkloadSpec,
    instance: str,
    old: AgentSpec | None,
    taken: set[int],
) -> AgentSpec:
    reuse = dict(old.proxy.app_ports) if old else {}
    # the app listens on its own port: without a sidecar (on its pod's address), in its own
    # namespace, or sharing the host's loopback with the other containers of its pod (each
    # reaches the others there at their container ports, as on a pod's localhost: apply refuses
    # two such pods on one port, `registry.host_ports`, as hostNetwork pods clash)
    if not workload.sidecar or ctx.pods is not None or listens_on_host(workload):
        reuse = {p: p for p in workload.ports}
        taken.update(workload.ports)
    proxy = Proxy(
        type=ProxyType.SIDECAR,
        ip=ctx.network.ip_for(f"{instance}.{workload.namespace}"),
        instance=instance,
        namespace=workload.namespace,
        labels=workload.labels,
        workload=workload.name,
        service_account=workload.service_account,
        app_ports=tuple(
            (p, reuse.get(p) or app_port(ctx.network.block, taken)) for p in workload.ports
        ),
        interception=INTERCEPTION_MODE if ctx.pods is not None and workload.sidecar else "",
        num_trusted_proxies=workload.num_trusted_proxies,
        tracing=workload.tracing,
        # captured pods send origin-form lines: no proxy variables, no `ws://` listener
        ws_proxy_port=ws_proxy_port(dict(workload.annotations)) if ctx.pods is None else 0,
    )
    facts = PodFacts(instance, workload.namespace, proxy.ip, ctx.host_ip, *ctx.allocatable)
    first_ports = tuple(p for p in workload.ports if all(p not in c.ports for c in workload.more))
    app = AppSpec(
        tuple(resolve(word, facts) for word in workload.command),
        tuple((name, resolve(value, facts)) for name, value in workload.env),
        workload.workdir,
        workload.config_error,
        name=workload.container,
        ports=first_ports if workload.more else (),
        liveness=workload.liveness,
        startup=workload.startup,
    )
    siblings = tuple(
        AppSpec(
            tuple(resolve(word, facts) for word in c.command),
            tuple((name, resolve(value, facts)) for name, value in c.env),
            c.workdir,
            workload.config_error,
            name=c.name,
            ports=c.ports,
            readiness=c.readiness,
            liveness=c.liveness,
            startup=c.startup,
        )
        for c in workload.more
    )
    spec = agent_spec(
        ctx, proxy, app, workload.sidecar, workload.termination_drain, workload.proxy_metadata
    )
    if ctx.pods is not None:
        spec = replace(spec, netns=ctx.pods.netns_name(proxy.pod_name))
    annotations = dict(workload.annotations)
    merge = ctx.settings.prometheus_merge
    metrics = app_scrape(annotations, proxy.app_ports) if merges(annotations, merge) else None
    inclusion = workload.stats_inclusion.over(ctx.settings.stats_inclusion)
    scrape = tuple(scrape_annotations(annotations, merge, workload.sidecar).items())
    override = override_json(workload.bootstrap_override, ctx.host_ip) if (
        workload.bootstrap_override and workload.sidecar
    ) else ""  # fmt: skip
    spec = replace(
        spec, app_metrics=metrics, readiness=workload.readiness, stats_inclusion=inclusion,
        scrape=scrape,
        restarted_at=annotations.get(RESTARTED_AT, ""), bootstrap_override=override,
        volume_error=workload.volume_error,
        proxy_files=workload.proxy_files,
        siblings=siblings,
        restart_policy=workload.restart_policy,
        termination_grace=workload.termination_grace,
        default_container=annotations.get(DEFAULT_CONTAINER, ""),
        rewrite_probes=workload.rewrite_probes,
    )  # fmt: skip
    if workload.concurrency is not None:  # ProxyConfig concurrency (0: one per CPU, as Istio)
        spec = replace(spec, concurrency=workload.concurrency or ctx.allocatable[0])
    # holdApplicationUntilProxyStarts, the pod's, else the mesh's, ORed with the injector's
    # values (Istio's template: `or .ProxyConfig.HoldApplicationUntilProxyStarts.GetValue
    # .Values.global.proxy.holdApplicationUntilProxyStarts`): read when a pod starts, as
    # Istio's injector reads it, so not in `same_workload` (a mesh change replaces no pod)
    hold = workload.hold_application
    proxy_config = ctx.settings.hold_application if hold is None else hold
    spec = replace(spec, hold_application=proxy_config or ctx.settings.injector_hold)
    if workload.log_levels is not None:  # sidecar.istio.io/logLevel, componentLogLevel
        level, components = workload.log_levels
        spec = replace(spec, envoy_log_level=level, envoy_component_log_level=components)
    return spec


def same_workload(a: AgentSpec, b: AgentSpec) -> bool:
    """False when a running instance must be replaced to match the manifest."""

    def key(s: AgentSpec) -> tuple[Any, ...]:
        ports = [c for c, _ in s.proxy.app_ports]
        return (
            s.proxy.labels, s.proxy.service_account, s.app, ports, s.sidecar, s.identity,
            s.readiness, s.proxy.num_trusted_proxies, s.proxy.ws_proxy_port, s.restarted_at,
            s.bootstrap_override, s.volume_error, s.proxy_files, s.envoy_log_level,
            s.envoy_component_log_level,
            s.siblings, s.restart_policy, s.default_container,
            s.concurrency, s.rewrite_probes, s.termination_grace,
        )  # fmt: skip

    return key(a) == key(b)
