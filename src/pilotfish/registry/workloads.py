"""What a workload is once parsed, whichever kind it was written as (pilotfish's `Workload`
shorthand, `apps/v1 Deployment` or `v1 Pod`): `WorkloadSpec`, its containers' `Probe`s, and the
annotation and port names both parsers share. Data only: parsing lives in
`pilotfish.registry.manifest` (Workload) and `pilotfish.registry.kube_workloads` (Deployment, Pod).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pilotfish.config.kinds import GATEWAY_NAME_LABEL
from pilotfish.config.objects import Source
from pilotfish.config.proxy_metadata import NOT_SET, ProxyMetadata
from pilotfish.config.proxy_stats import NOT_SET as NO_STATS_LISTS
from pilotfish.config.proxy_stats import StatsInclusion
from pilotfish.config.proxy_tracing import ProxyTracing

WORKDIR_ANNOTATION = "pilotfish.io/workdir"  # set on apply: the folder `command` is relative to
IMAGES_ANNOTATION = "pilotfish.io/images"  # set on apply: each container image's local command
INJECT_ANNOTATION = "sidecar.istio.io/inject"
INJECTED_ANNOTATION = "pilotfish.io/injected"  # set on apply: "true" or "false" (`injection`)
STATUS_ANNOTATION = "sidecar.istio.io/status"  # the injector's mark: this pod has its sidecar
PILOTFISH_ANNOTATIONS = frozenset({WORKDIR_ANNOTATION, IMAGES_ANNOTATION, INJECTED_ANNOTATION})

GATEWAY_LABELS = ("ingressgateway", "egressgateway")
"""Values of the `istio` label that make a workload a gateway (Istio's ingress/egress gateways)."""
INGRESS_GATEWAY, INGRESS_GATEWAY_NAMESPACE = "istio-ingressgateway", "istio-system"
INGRESS_GATEWAY_LABELS = (("app", INGRESS_GATEWAY), ("istio", "ingressgateway"))
INGRESS_GATEWAY_ACCOUNT = f"{INGRESS_GATEWAY}-service-account"
"""Local mode's own ingress gateway, as Istio installs it (no manifest workload: the launcher
runs it, `local.specs.gateway_proxy`)."""


def is_gateway_pod(labels: Mapping[str, str]) -> bool:
    """A gateway's pod (its Envoy is the pod): Istio's ingress/egress gateways, and the pods of
    a Gateway API Gateway's automated deployment (`gateway.networking.k8s.io/gateway-name`)."""
    return labels.get("istio") in GATEWAY_LABELS or GATEWAY_NAME_LABEL in labels


WS_PROXY_ANNOTATION = "pilotfish.io/ws-proxy"  # "true": the sidecar takes `ws://` lines too
WS_PROXY_PORT = 15002  # the listener the pod's WS_PROXY names (local mode's explicit proxying)

# Ports a sidecar uses itself on every workload address (Istio's numbers, and WS_PROXY_PORT).
RESERVED_PORTS = frozenset({15000, 15001, 15002, 15006, 15020, 15021, 15090})


def ws_proxy_port(annotations: dict[str, str]) -> int:
    """WS_PROXY_PORT when the pod asks for a `ws://` proxy listener
    (`pilotfish.io/ws-proxy: "true"`), else 0. Off by default: Envoy then runs a Wasm VM (about
    4 MiB per sidecar, measured in BENCHMARKS.md)."""
    return WS_PROXY_PORT if annotations.get(WS_PROXY_ANNOTATION, "").lower() == "true" else 0


class RawDocumentLike(Protocol):
    """What `pilotfish.config.RawDocument` offers (kept structural to avoid an import cycle)."""

    @property
    def kind(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def source(self) -> Source: ...

    def line_of(self, path: str) -> int: ...


PROBE_FIELDS = (
    ("readinessProbe", "readyz"),
    ("livenessProbe", "livez"),
    ("startupProbe", "startupz"),
)
"""A container's three probes and the `/app-health/<container>/<endpoint>` each is rewritten to
(Istio's `status.FormatProberURL`)."""
DEFAULT_GRACE_SECONDS = 30  # a pod's terminationGracePeriodSeconds when unset (Kubernetes')
REWRITE_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"


def rewrites_probes(annotations: Mapping[str, str]) -> bool:
    """Istio's ShouldRewriteAppHTTPProbers: the pod's `sidecar.istio.io/rewriteAppHTTPProbers`
    when it is a Go boolean (`false`, `0`, `F` ...), else the injector's default (on)."""
    return annotations.get(REWRITE_ANNOTATION) not in ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class Probe:
    """One of a container's probes (`endpoint`: readyz, livez or startupz, from its
    readinessProbe, livenessProbe or startupProbe), with the kubelet's defaults: `http`
    (httpGet), `tcp` (tcpSocket), `grpc` (the gRPC health protocol) against one of the
    container's ports, or `exec` (a command in the container). Istio's injector rewrites the
    first three to `/app-health/<container>/<endpoint>` on the agent's 15020. Success is the
    kubelet's: HTTP 200-399, a connection, SERVING, exit code 0."""

    container: str
    kind: str  # "http" | "tcp" | "grpc" | "exec"
    port: int = 0  # a container port (the agent maps it to where the app really listens)
    path: str = "/"
    scheme: str = "HTTP"  # HTTP | HTTPS (certificate not verified, as kubelet does)
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    endpoint: str = "readyz"  # readyz | livez | startupz: which of the container's probes
    command: tuple[str, ...] = ()  # exec's
    service: str = ""  # grpc's `service` (the health protocol's; "" is the server's)
    termination_grace: int | None = None  # its terminationGracePeriodSeconds (liveness and
    # startup only): the grace of a kill it causes, instead of the pod's

    @property
    def rewritable(self) -> bool:
        """Istio's injector rewrites it to the agent (httpGet, tcpSocket, grpc; never exec)."""
        return self.kind != "exec"


@dataclass(frozen=True)
class Container:
    """A container of a pod past its first (`WorkloadSpec.more`): Kubernetes runs each of a
    pod's containers, which share the pod's network (each reaches the others on localhost at
    their container ports). Its `ports` are also in its workload's `ports`."""

    name: str
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[int, ...] = ()
    workdir: str = "."
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None


RESTART_POLICIES = ("Always", "OnFailure", "Never")  # a pod's `restartPolicy` (Kubernetes')


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    replicas: int = 1
    service_account: str = "default"
    command: tuple[str, ...] = ()  # the (first) container's
    env: tuple[tuple[str, str], ...] = ()  # the (first) container's
    ports: tuple[int, ...] = ()  # the pod's: its first container's, then the others' (`more`)
    workdir: str = "."
    annotations: tuple[tuple[str, str], ...] = ()  # the pod's: prometheus.io/*, traffic.sidecar.*
    sidecar: bool = True  # False when annotated `sidecar.istio.io/inject: "false"`
    termination_drain: float | None = None  # `proxy.istio.io/config` (`registry.drain`)
    proxy_metadata: ProxyMetadata = NOT_SET  # annotation `proxy.istio.io/config`
    stats_inclusion: StatsInclusion = NO_STATS_LISTS  # the pod's (`registry.drain`)
    num_trusted_proxies: int | None = None  # its `gatewayTopology` (a gateway's), `registry.drain`
    tracing: ProxyTracing | None = None  # its ProxyConfig `tracing` (`registry.drain`)
    readiness: Probe | None = None
    liveness: Probe | None = None  # the first container's livenessProbe
    startup: Probe | None = None  # the first container's startupProbe
    rewrite_probes: bool = True  # Istio's rewriteAppHTTPProbers (the pod's annotation)
    kind: str = "Workload"  # what it was written as: Workload, Deployment or Pod
    config_error: str = ""  # the kubelet's CreateContainerConfigError (`registry.env_sources`)
    bootstrap_override: str = ""  # its bootstrapOverride's file (`registry.bootstrap_override`)
    volume_error: str = ""  # the kubelet cannot mount a volume: no container starts
    proxy_files: tuple[tuple[str, str], ...] = ()  # istio-proxy's mounts (`user_volumes`)
    log_levels: tuple[str, str] | None = None  # Envoy's, from sidecar.istio.io/logLevel etc.
    container: str = ""  # the first container's name ("": a `Workload`, named by its app label)
    more: tuple[Container, ...] = ()  # the pod's other containers, in its order
    restart_policy: str = "Always"  # the pod's `restartPolicy`: what the kubelet does on exit
    termination_grace: int = DEFAULT_GRACE_SECONDS  # the pod's terminationGracePeriodSeconds
    concurrency: int | None = None  # its ProxyConfig's (`registry.drain`); 0: one per CPU
    hold_application: bool | None = None  # its holdApplicationUntilProxyStarts (None: the mesh's)

    def instance_names(self) -> list[str]:
        """`NAME-0` … `NAME-(replicas-1)`; a `v1 Pod` is one instance named as the pod."""
        if self.kind == "Pod":
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.replicas)]
