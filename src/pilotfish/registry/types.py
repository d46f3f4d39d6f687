"""Registry data: services, their ports, and the workload instances that serve them.

These are Kubernetes' shapes with the cluster taken away: a `Service` has a fully qualified
hostname (`reviews.default.svc.cluster.local`), named ports and a label selector; a
`WorkloadInstance` is one running replica (a pod, in Kubernetes terms) with its own address.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import cached_property

from pilotfish.config.hosts import CLUSTER_DOMAIN, exported_to
from pilotfish.config.locality import from_labels
from pilotfish.config.protocols import HTTP_FAMILY, kube_port_protocol, parse_protocol


class Protocol(StrEnum):
    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-WEB"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"
    UNKNOWN = "UNKNOWN"

    @property
    def is_http(self) -> bool:
        return self.value in HTTP_FAMILY


_PROTOCOLS = {
    "HTTP": Protocol.HTTP,
    "HTTP_PROXY": Protocol.HTTP,
    "HTTP2": Protocol.HTTP2,
    "GRPC": Protocol.GRPC,
    "GRPC-WEB": Protocol.GRPC_WEB,
    "HTTPS": Protocol.HTTPS,
    "TLS": Protocol.TLS,
    "TCP": Protocol.TCP,
    "MONGO": Protocol.TCP,
    "REDIS": Protocol.TCP,
    "MYSQL": Protocol.TCP,
    "UDP": Protocol.UDP,
}
"""Istio's protocols as translation tells them apart. Istio's `mongo`, `redis` and `mysql` are
TCP to its listeners (`Instance.IsTCP`), and so here (Bookinfo's `mongodb` Service names its port
`mongo`); `grpc-web` is gRPC-Web (HTTP/2 upstream as Istio's `IsHTTP2`; its listeners get
Istio's grpc_web filter: `translate.listeners.grpc_web_filter`); `http_proxy` is HTTP. UDP ports
get no outbound listener or cluster, as in Istio."""


def protocol_from_port(
    name: str, app_protocol: str | None = None, number: int = 0, transport: str = "TCP"
) -> Protocol:
    """Istio's protocol selection for a port (`config.protocols.kube_port_protocol`): its
    `protocol: UDP`, then `appProtocol` when set, else the port name's prefix (`http-…`)."""
    found = kube_port_protocol(number, name, transport, app_protocol)
    return _PROTOCOLS.get(found, Protocol.UNKNOWN)


def protocol_named(text: str) -> Protocol:
    """The protocol a port's `protocol` field names (a ServiceEntry's: Istio's `convertPort`,
    `protocol.Parse`): UNKNOWN, detected per connection, for an empty or unknown one; the
    port's name is not read."""
    return _PROTOCOLS.get(parse_protocol(text), Protocol.UNKNOWN)


def _fields_hash(value: object) -> int:
    """The hash a frozen dataclass generates (of its fields' values), made once per object:
    services and endpoints are parts of the keys of translation's memos, looked up thousands
    of times a change (an apply of every DestinationRule hashed each service ~8 times)."""
    found: int | None = value.__dict__.get("_hash")
    if found is None:
        found = hash(tuple(getattr(value, f.name) for f in fields(value)))  # type: ignore[arg-type]
        object.__setattr__(value, "_hash", found)
    return found


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: Protocol
    target_port: int
    app_protocol: str | None = None
    """A Kubernetes Service port's `appProtocol`, as given (istioctl's describe prints the
    protocol from the name and it, in Istio's spelling: `config.protocols.described_protocol`)."""


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    ports: tuple[ServicePort, ...]
    selector: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    mesh_external: bool = False
    host: str = ""  # ServiceEntry host (`api.example.com`); Kubernetes services leave it empty
    resolution: str = ""  # ServiceEntry resolution: NONE, STATIC, DNS ("" = registry endpoints)
    addresses: tuple[str, ...] = ()  # ServiceEntry `addresses` (VIPs or CIDRs), or a clusterIP
    headless: bool = False  # `clusterIP: None`: no cluster IP (`registry.cluster_ips`)
    entries: tuple[WorkloadInstance, ...] = ()  # ServiceEntry inline `endpoints`
    export_to: tuple[str, ...] = ()
    """Istio's `exportTo` (ServiceEntry field, or a Service's `networking.istio.io/exportTo`
    annotation): the namespaces whose proxies see the service; () = every namespace."""

    def __hash__(self) -> int:
        return _fields_hash(self)

    @cached_property
    def hostname(self) -> str:
        """Made once per service (not a field: equality and `replace` ignore it); a change
        reads it thousands of times (indexes, blocks, look-ups by host)."""
        return self.host or f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}"

    @property
    def from_service_entry(self) -> bool:
        return bool(self.host)

    def exported_to(self, namespace: str) -> bool:
        """Whether proxies of `namespace` see this service (and get its clusters and routes)."""
        return exported_to(self.export_to, self.namespace, namespace)

    def port(self, number: int) -> ServicePort | None:
        """The port numbered `number` that is not UDP (Istio's `PortList.GetByPort`)."""
        return next(
            (p for p in self.ports if p.port == number and p.protocol != Protocol.UDP), None
        )

    def selects(self, labels: dict[str, str]) -> bool:
        return bool(self.selector) and all(labels.get(k) == v for k, v in self.selector)


@dataclass(frozen=True)
class WorkloadInstance:
    """One replica of a workload: `reviews-v2-0` at 127.x.y.z, with its labels and identity."""

    name: str
    workload: str
    namespace: str
    address: str
    labels: tuple[tuple[str, str], ...] = ()
    service_account: str = "default"
    ports: tuple[int, ...] = ()  # container ports the app serves, behind the sidecar
    ready: bool = True
    port_map: tuple[tuple[str, int], ...] = ()  # WorkloadEntry `ports`: service port name -> port
    sidecar: bool = True  # False: no sidecar (`sidecar.istio.io/inject: "false"`), plaintext only
    locality: str = ""
    """A WorkloadEntry's (or ServiceEntry endpoint's) `locality`, as written; a pod says its
    locality with labels (`config.locality.from_labels`, which `resolved_locality` applies)."""

    @property
    def resolved_locality(self) -> str:
        """Where the instance is (`region/zone/subzone`; "" when nothing says)."""
        return from_labels(dict(self.labels), self.locality) if self.labels or self.locality else ""

    def port_for(self, port: ServicePort) -> int:
        """The port this instance serves a service port on (WorkloadEntry `ports` first)."""
        if not self.port_map:
            return port.target_port
        return dict(self.port_map).get(port.name, port.target_port)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int
    labels: tuple[tuple[str, str], ...] = ()
    instance: str = ""
    service_account: str = "default"
    healthy: bool = True
    workload: str = ""  # the instance's workload (Deployment) name; "" for ServiceEntry endpoints
    namespace: str = ""
    sidecar: bool = True  # the instance behind it has a sidecar (it can speak Istio mTLS)
    locality: str = ""  # `region/zone/subzone` of the instance (`resolved_locality`)

    def __hash__(self) -> int:
        return _fields_hash(self)


@dataclass(frozen=True)
class TlsSecret:
    """A Kubernetes-shaped `v1 Secret` holding TLS material (PEM text), as gateways use it
    through `credentialName`: `tls.crt`/`tls.key` (kubernetes.io/tls) and/or `ca.crt`."""

    name: str
    namespace: str
    certificate: str = ""
    private_key: str = ""
    ca_certificate: str = ""
    data: tuple[tuple[str, str], ...] = ()  # every key, e.g. a plug-in CA's `ca-cert.pem`


@dataclass(frozen=True)
class RegistrySnapshot:
    """Everything the registry knows at one instant. Immutable; sorted for determinism."""

    services: tuple[Service, ...] = ()
    instances: tuple[WorkloadInstance, ...] = ()
    secrets: tuple[TlsSecret, ...] = ()  # `v1 Secret`s of the manifest (gateway credentials)
    _by_host: dict[str, Service] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_host.update({s.hostname: s for s in self.services})

    def service(self, hostname: str) -> Service | None:
        return self._by_host.get(hostname)

    def secret(self, namespace: str, name: str) -> TlsSecret | None:
        return next((s for s in self.secrets if (s.namespace, s.name) == (namespace, name)), None)
