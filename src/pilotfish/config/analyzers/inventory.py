"""The services and workloads an analysis knows about: `Inventory`.

Built from the inputs (`v1 Service` and `pilotfish.io/v1alpha1 Workload` documents, ServiceEntry
hosts, WorkloadEntry labels), from the running mesh's `/debug/registryz` answer (services and
instances) with `--use-mesh`, and always the local ingress gateway (`istio-ingressgateway` in
istio-system, labels app=istio-ingressgateway, istio=ingressgateway), which `pilotfish up` runs
in every mesh. Pure: no I/O; inputs are parsed documents and decoded JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.analyzers.documents import istio_objects
from pilotfish.config.analyzers.messages import DOMAIN, fqdn, selects
from pilotfish.config.hosts import host_matches
from pilotfish.config.kinds import MANIFEST_API, SERVICE_ENTRY, WORKLOAD_ENTRY
from pilotfish.config.load import DEFAULT_NAMESPACE, LoadResult

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class KnownService:
    host: str  # FQDN, or a ServiceEntry host as written (may be a wildcard)
    namespace: str
    selector: Labels = ()
    ports: tuple[tuple[int, int], ...] = ()  # (port, targetPort)
    export_to: tuple[str, ...] = ()  # namespaces that see it ("." resolved); () or "*": all

    def visible_to(self, scope: str) -> bool:
        """Istio's exportTo scopes: `scope` is a namespace, or "*" (every namespace)."""
        return not self.export_to or "*" in self.export_to or scope in self.export_to


@dataclass(frozen=True)
class KnownWorkload:
    name: str
    namespace: str
    labels: Labels = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


INGRESS_GATEWAY = KnownWorkload(
    "istio-ingressgateway",
    "istio-system",
    (("app", "istio-ingressgateway"), ("istio", "ingressgateway")),
)


@dataclass
class Inventory:
    services: list[KnownService] = field(default_factory=list)
    workloads: list[KnownWorkload] = field(default_factory=lambda: [INGRESS_GATEWAY])

    def extend(self, other: Inventory) -> None:
        self.services += [s for s in other.services if s not in self.services]
        self.workloads += [w for w in other.workloads if w not in self.workloads]

    def hosts(self) -> set[str]:
        return {s.host for s in self.services}

    def knows_host(
        self, host: str, namespace: str | None = None, export_to: tuple[str, ...] = ()
    ) -> bool:
        """Istio's destination lookup (analyzers/util GetDestinationHost): a service of that exact
        name, or a wildcard service host covering it, compared as Istio names (case-sensitive).
        From config in `namespace` exported to `export_to`, only what is exported there counts:
        an exact host seen by every namespace or by each of the config's audiences (its own
        namespace by default), a wildcard host seen by every namespace or by `namespace`."""
        if namespace is None:
            return any(host_matches(s.host, host, "name") for s in self.services)
        scopes = [namespace if e == "." else e for e in export_to] or [namespace]
        for service in self.services:
            if service.host == host and (
                service.visible_to("*") or any(service.visible_to(s) for s in scopes)
            ):
                return True
            if (
                service.host.startswith("*")
                and (service.visible_to("*") or service.visible_to(namespace))
                and host_matches(service.host, host, "name")
            ):
                return True
        return False

    def selected(self, selector: dict[str, str], namespace: str | None) -> list[KnownWorkload]:
        """Workloads whose labels match `selector`, in `namespace` (None: anywhere)."""
        return [
            w
            for w in self.workloads
            if (namespace is None or w.namespace == namespace) and selects(selector, w.label_map)
        ]

    def in_namespace(self, namespace: str) -> list[KnownWorkload]:
        return [w for w in self.workloads if w.namespace == namespace]

    def services_for_host(self, host: str) -> list[KnownService]:
        return [s for s in self.services if s.host == host]

    def workloads_of(self, service: KnownService) -> list[KnownWorkload]:
        if not service.selector:
            return []
        return self.selected(dict(service.selector), service.namespace)

    def services_of(self, workload: KnownWorkload) -> list[KnownService]:
        return [
            s
            for s in self.services
            if s.selector
            and s.namespace == workload.namespace
            and selects(dict(s.selector), workload.label_map)
        ]


def _pairs(value: Any) -> Labels:
    if isinstance(value, dict):
        items: Iterable[Any] = value.items()
    elif isinstance(value, list):
        items = (tuple(p) for p in value if isinstance(p, list | tuple) and len(p) == 2)
    else:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in items))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _service_ports(ports: Any, port_key: str, target_key: str) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for row in ports if isinstance(ports, list) else []:
        if not isinstance(row, dict) or _int(row.get(port_key)) is None:
            continue
        port = int(row[port_key])
        target = _int(row.get(target_key))
        out.append((port, target if target is not None else port))
    return tuple(out)


EXPORT_TO = "networking.istio.io/exportTo"


def _export_to(values: list[str], namespace: str) -> tuple[str, ...]:
    """exportTo values with "." as the namespace itself; () when exported everywhere."""
    scopes = tuple(namespace if v.strip() == "." else v.strip() for v in values if v.strip())
    return () if "*" in scopes else scopes


def inventory_from_inputs(result: LoadResult) -> Inventory:
    """Services and workloads declared by the inputs themselves."""
    inventory = Inventory()
    for doc in result.others:
        meta = doc.metadata
        name, namespace = meta.get("name"), meta.get("namespace") or DEFAULT_NAMESPACE
        if not isinstance(name, str) or not isinstance(namespace, str):
            continue
        spec = doc.data.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        if doc.api_version == "v1" and doc.kind == "Service":
            annotations = meta.get("annotations")
            export = annotations.get(EXPORT_TO) if isinstance(annotations, dict) else None
            inventory.services.append(
                KnownService(
                    f"{name}.{namespace}.{DOMAIN}",
                    namespace,
                    _pairs(spec.get("selector")),
                    _service_ports(spec.get("ports"), "port", "targetPort"),
                    _export_to(str(export).split(",") if export else [], namespace),
                )
            )
        elif doc.api_version == MANIFEST_API and doc.kind == "Workload":
            inventory.workloads.append(KnownWorkload(name, namespace, _pairs(meta.get("labels"))))
    for entry in istio_objects(result, SERVICE_ENTRY):
        namespace = entry.meta.namespace
        ports = tuple(
            (p.number, p.target_port or p.number) for p in entry.spec.ports if p.number is not None
        )
        export = _export_to(list(entry.spec.export_to), namespace)
        for host in entry.spec.hosts:
            inventory.services.append(
                KnownService(fqdn(host, namespace), namespace, ports=ports, export_to=export)
            )
    for workload_entry in istio_objects(result, WORKLOAD_ENTRY):
        labels = _pairs(dict(workload_entry.spec.labels))
        inventory.workloads.append(
            KnownWorkload(workload_entry.meta.name, workload_entry.meta.namespace, labels)
        )
    return inventory


def _registry_rows(
    body: dict[str, Any], list_key: str, name_key: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, namespace, row) of each well-formed row of a registryz list (a dict whose
    `name_key` is a string); the namespace defaults as it does for documents."""
    for row in body.get(list_key) or []:
        if isinstance(row, dict) and isinstance(row.get(name_key), str):
            yield row[name_key], str(row.get("namespace") or DEFAULT_NAMESPACE), row


def inventory_from_registryz(body: Any) -> Inventory:
    """The running mesh's registry (`GET /debug/registryz`): services and instances."""
    inventory = Inventory()
    if not isinstance(body, dict):
        return inventory
    for host, namespace, row in _registry_rows(body, "services", "hostname"):
        ports = _service_ports(row.get("ports"), "port", "target_port")
        inventory.services.append(KnownService(host, namespace, _pairs(row.get("selector")), ports))
    for name, namespace, row in _registry_rows(body, "instances", "workload"):
        inventory.workloads.append(KnownWorkload(name, namespace, _pairs(row.get("labels"))))
    return inventory
