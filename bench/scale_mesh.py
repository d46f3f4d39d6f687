"""The synthetic mesh of the scale benchmark (and of its CI-sized correctness test).

`Topology(services, proxies)` lays out `services` HTTP services over namespaces of 20 services
each (50 namespaces for 1,000), two versions per service (Workloads `svc-N-v1`/`-v2`), one
DestinationRule with subsets v1/v2 and one VirtualService per service (a header match to v2, the
rest split 90/10), one Gateway with a bound VirtualService per namespace of the first five, and
`proxies` workload instances (replicas spread over the workloads) whose node ids and metadata are
exactly what the agent puts in a sidecar's bootstrap. Everything is text or plain data, so the
same mesh can be applied through the control plane's API or built in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilotfish import __version__
from pilotfish.model.node import IDENTITY_ENV_KEY, VERSION_KEY
from pilotfish.telemetry.exchange import identity
from pilotfish.telemetry.identity_env import environment

SERVICES_PER_NAMESPACE = 20
OUTSIDE_HOST = "127.0.0.9:8081"
"""A host no service has, that every sidecar has called (so it holds the catch-all's answer for
it, and an outbound traffic policy change reaches it); an IP literal, so that a real Envoy's
request to it under ALLOW_ANY stays on loopback (refused: 503)."""
PORT = 8080
GATEWAY_NAMESPACES = 5


@dataclass(frozen=True)
class Instance:
    name: str
    workload: str
    namespace: str
    address: str
    labels: dict[str, str]

    @property
    def node_id(self) -> str:
        domain = f"{self.namespace}.svc.cluster.local"
        return f"sidecar~{self.address}~{self.name}.{self.namespace}~{domain}"

    def metadata(self, app_port: int = 0) -> dict[str, Any]:
        """Node metadata as `pilotfish.model.node.node_metadata` writes it."""
        return {
            "NAME": self.name,
            "NAMESPACE": self.namespace,
            "LABELS": self.labels,
            "INSTANCE_IPS": self.address,
            "SERVICE_ACCOUNT": "default",
            "WORKLOAD_NAME": self.workload,
            "PILOTFISH_APP_PORTS": f"{PORT}:{app_port or 20000 + hash(self.name) % 20000}",
            "PILOTFISH_OUTBOUND_PORT": "15001",
            "PILOTFISH_GATEWAY_ADDRESS": "",
            VERSION_KEY: __version__,
            # the identity variables the agent gives its Envoy (`telemetry.identity_env`)
            IDENTITY_ENV_KEY: environment(identity(self.labels, self.workload, self.namespace)),
        }

    def row(self) -> dict[str, Any]:
        """The launcher's instance report (PUT /api/v1/instances)."""
        return {
            "name": self.name,
            "workload": self.workload,
            "namespace": self.namespace,
            "address": self.address,
            "labels": self.labels,
            "service_account": "default",
            "ports": [PORT],
        }


class Topology:
    def __init__(self, services: int, proxies: int, block: int = 200) -> None:
        self.services = services
        self.proxies = proxies
        self.block = block  # 127.<block>.x.y addresses for the instances
        self.names = [(f"ns-{i // SERVICES_PER_NAMESPACE}", f"svc-{i}") for i in range(services)]

    @property
    def namespaces(self) -> list[str]:
        return sorted({ns for ns, _ in self.names}, key=lambda n: int(n.split("-")[1]))

    def workloads(self) -> list[tuple[str, str, str]]:
        """(namespace, service, version) for every Workload."""
        return [(ns, svc, v) for ns, svc in self.names for v in ("v1", "v2")]

    def replicas(self) -> dict[tuple[str, str, str], int]:
        workloads = self.workloads()
        counts = dict.fromkeys(workloads, 0)
        for i in range(self.proxies):
            counts[workloads[i % len(workloads)]] += 1
        return counts

    def instances(self, scaled: tuple[str, str, str] | None = None) -> list[Instance]:
        """Every instance; `scaled` gets one replica more (the endpoint change)."""
        found: list[Instance] = []
        for number, ((ns, svc, version), count) in enumerate(self.replicas().items()):
            if (ns, svc, version) == scaled:
                count += 1
            for replica in range(count):
                index = number * 4 + replica  # stable: scaling one workload moves no other
                found.append(
                    Instance(
                        name=f"{svc}-{version}-{replica}",
                        workload=f"{svc}-{version}",
                        namespace=ns,
                        address=f"127.{self.block}.{index // 250}.{index % 250 + 2}",
                        labels={"app": svc, "version": version},
                    )
                )
        return found

    # ---- YAML ---------------------------------------------------------------------------------

    def manifest_yaml(self) -> str:
        docs = [
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n" for ns in self.namespaces
        ]
        for ns, svc in self.names:
            docs.append(
                f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {ns}\n"
                f"spec:\n  ports:\n  - port: {PORT}\n    name: http\n  selector:\n    app: {svc}\n"
            )
        for (ns, svc, version), count in self.replicas().items():
            docs.append(
                "apiVersion: pilotfish.io/v1alpha1\nkind: Workload\n"
                f"metadata:\n  name: {svc}-{version}\n  namespace: {ns}\n"
                f"  labels:\n    app: {svc}\n    version: {version}\n"
                f"spec:\n  replicas: {max(count, 1)}\n  command: [sleep, infinity]\n"
                f"  ports: [{PORT}]\n"
            )
        return "---\n".join(docs)

    def cluster(self, index: int) -> str:
        """The subset-less outbound cluster of the index-th service."""
        ns, svc = self.names[index]
        return f"outbound|{PORT}||{svc}.{ns}.svc.cluster.local"

    def destination_rule(self, ns: str, svc: str, extra: str = "") -> str:
        return (
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata:\n  name: {svc}\n  namespace: {ns}\n"
            f"spec:\n  host: {svc}\n{extra}"
            "  subsets:\n  - name: v1\n    labels:\n      version: v1\n"
            "  - name: v2\n    labels:\n      version: v2\n"
        )

    def pooled_rules(self, pending: int) -> str:
        """Every service's DestinationRule with a connection pool (`http1MaxPendingRequests`):
        a change of every cluster every sidecar holds. (Istio applies only the most specific
        rule to a host, with no merge: a root-namespace `*.local` rule would reach none of
        these services, each of which has a rule of its own.)"""
        pool = f"    connectionPool:\n      http:\n        http1MaxPendingRequests: {pending}\n"
        extra = "  trafficPolicy:\n" + pool
        return "---\n".join(self.destination_rule(ns, svc, extra) for ns, svc in self.names)

    def virtual_service(self, ns: str, svc: str, v1_weight: int = 90) -> str:
        return (
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
            f"metadata:\n  name: {svc}\n  namespace: {ns}\n"
            f"spec:\n  hosts: [{svc}]\n  http:\n"
            "  - match:\n    - headers:\n        end-user:\n          exact: jason\n"
            f"    route:\n    - destination:\n        host: {svc}\n        subset: v2\n"
            f"  - route:\n    - destination:\n        host: {svc}\n        subset: v1\n"
            f"      weight: {v1_weight}\n"
            f"    - destination:\n        host: {svc}\n        subset: v2\n"
            f"      weight: {100 - v1_weight}\n"
        )

    def gateways_yaml(self) -> str:
        docs = []
        for ns in self.namespaces[:GATEWAY_NAMESPACES]:
            first = next(svc for n, svc in self.names if n == ns)
            docs.append(
                "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
                f"metadata:\n  name: gw\n  namespace: {ns}\n"
                "spec:\n  selector:\n    istio: ingressgateway\n  servers:\n"
                f"  - port:\n      number: 8080\n      name: http\n      protocol: HTTP\n"
                f"    hosts: ['{ns}.example.com']\n"
            )
            docs.append(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                f"metadata:\n  name: gw-{first}\n  namespace: {ns}\n"
                f"spec:\n  hosts: ['{ns}.example.com']\n  gateways: [gw]\n  http:\n"
                f"  - route:\n    - destination:\n        host: {first}\n        subset: v1\n"
            )
        return "---\n".join(docs)

    def config_yaml(self) -> str:
        docs = [self.destination_rule(ns, svc) for ns, svc in self.names]
        docs += [self.virtual_service(ns, svc) for ns, svc in self.names]
        return "---\n".join(docs) + "---\n" + self.gateways_yaml()

    def mesh_config(self, mode: str, more: str = "") -> str:
        """Istio's mesh ConfigMap: outboundTrafficPolicy is a setting every sidecar sees;
        `more`: further MeshConfig lines (indented 4)."""
        return (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\n"
            f"data:\n  mesh: |\n    outboundTrafficPolicy:\n      mode: {mode}\n{more}"
        )
