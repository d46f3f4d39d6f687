"""ServiceEntry and WorkloadEntry -> registry services and workload instances (Istio's
`serviceentry` registry), merged into a `RegistrySnapshot` next to the manifest's services.

- Every host of a ServiceEntry becomes one `Service` whose hostname is the host as written
  (`api.example.com`, `vm.example`), with the entry's ports (protocol from `protocol` alone, as
  Istio's `convertPort`: unset, it is detected per connection, whatever the port's name),
  `location` (MESH_EXTERNAL by default, as in Istio), `resolution` and `addresses`.
- Inline `endpoints` become instances owned by that service only (`Service.entries`); with
  `workloadSelector` the service selects instances by label instead: WorkloadEntries (a VM
  registered by address and labels) and manifest workloads of the same namespace.
- Every WorkloadEntry becomes a `WorkloadInstance` (name = the entry's name), so a Kubernetes
  `Service` whose selector matches its labels gets it as an endpoint too, as in Istio.
  WorkloadEntry `ports` (port name -> number) override the service's target port. An entry
  speaks mesh mTLS with label `security.istio.io/tlsMode: istio` or, without that label, when it
  has a `serviceAccount` (Istio's rule); a health-checked entry (auto-registered with a probe) is
  ready only while its `Healthy` condition is "True".
- A ServiceEntry host that is already a registry hostname is ignored (the first one wins).
- `external_name_fields`: a Kubernetes `type: ExternalName` Service (parsed in `manifest`) takes
  the shape of a DNS ServiceEntry under its own name (see there).

Pure: reads only its arguments. Config objects are duck-typed (`meta`, `spec`), so this module
does not import the config models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pilotfish.config.kinds import SERVICE_ENTRY, WORKLOAD_ENTRY
from pilotfish.registry.types import (
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
    protocol_named,
)

TLS_MODE_LABEL = "security.istio.io/tlsMode"
HEALTH_CHECKS_ANNOTATION = "proxy.istio.io/health-checks-enabled"
HEALTHY = "Healthy"


def is_healthy(annotations: dict[str, str], status: Any) -> bool:
    """Istio's `isHealthy`: a WorkloadEntry with health checks enabled (the annotation, set on
    auto-registration when the proxy has a readiness probe) is healthy only once its `Healthy`
    condition says "True"; any other entry always is."""
    if str(annotations.get(HEALTH_CHECKS_ANNOTATION, "")).lower() not in ("true", "1", "t"):
        return True
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for condition in conditions or []:
        if isinstance(condition, dict) and condition.get("type") == HEALTHY:
            return str(condition.get("status")) == "True"
    return False


def _labels(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in dict(value or {}).items()))


def _instance(name: str, namespace: str, entry: Any, ready: bool = True) -> WorkloadInstance | None:
    if not entry.address:
        return None
    labels = dict(entry.labels or {})
    return WorkloadInstance(
        name=name,
        workload=name,
        namespace=namespace,
        address=str(entry.address),
        labels=_labels(entry.labels),
        service_account=str(entry.service_account or "default"),
        port_map=tuple(sorted((str(k), int(v)) for k, v in dict(entry.ports or {}).items())),
        # As Istio: an entry speaks mesh mTLS when labelled so (its sidecar says it can), or,
        # without the label, when it names a service account.
        sidecar=labels.get(TLS_MODE_LABEL, "istio" if entry.service_account else "") == "istio",
        ready=ready,
        locality=str(entry.locality or ""),
    )


def workload_entry_instances(configs: Iterable[Any]) -> list[WorkloadInstance]:
    """One instance per WorkloadEntry with an address."""
    found = []
    for entry in configs:
        if entry.meta.kind != WORKLOAD_ENTRY:
            continue
        healthy = is_healthy(dict(entry.meta.annotations), entry.raw.get("status"))
        instance = _instance(entry.meta.name, entry.meta.namespace, entry.spec, healthy)
        if instance is not None:
            found.append(instance)
    return found


def _ports(spec: Any) -> tuple[ServicePort, ...]:
    ports = []
    for port in spec.ports or ():
        if not port.number:
            continue
        name = str(port.name or "")
        protocol = protocol_named(str(port.protocol or ""))  # not its name: Istio's Parse
        ports.append(ServicePort(name, port.number, protocol, port.target_port or port.number))
    return tuple(ports)


def service_entry_services(configs: Iterable[Any]) -> list[Service]:
    """One service per ServiceEntry host, in (namespace, name, host) order."""
    services = []
    for entry in configs:
        if entry.meta.kind != SERVICE_ENTRY:
            continue
        spec, namespace = entry.spec, entry.meta.namespace
        ports = _ports(spec)
        if not ports:
            continue
        selector = _labels(spec.workload_selector.labels) if spec.workload_selector else ()
        inline = [
            _instance(f"{entry.meta.name}-{index}", namespace, endpoint)
            for index, endpoint in enumerate(spec.endpoints or ())
        ]
        for host in spec.hosts or ():
            services.append(
                Service(
                    name=str(host),
                    namespace=namespace,
                    ports=ports,
                    selector=selector,
                    mesh_external=(spec.location or "MESH_EXTERNAL") == "MESH_EXTERNAL",
                    host=str(host),
                    resolution=str(spec.resolution or "NONE"),
                    labels=tuple(
                        sorted((str(k), str(v)) for k, v in dict(entry.meta.labels).items())
                    ),
                    addresses=tuple(str(a) for a in spec.addresses or ()),
                    entries=tuple(i for i in inline if i is not None),
                    export_to=tuple(str(e) for e in spec.export_to or ()),
                )
            )
    return services


def with_entries(registry: RegistrySnapshot, configs: Iterable[Any]) -> RegistrySnapshot:
    """`registry` plus the services and instances ServiceEntries and WorkloadEntries define."""
    configs = sorted(configs, key=lambda c: (c.meta.namespace, c.meta.name))
    known = {s.hostname for s in registry.services}
    services = list(registry.services)
    for service in service_entry_services(configs):
        if service.hostname not in known:
            known.add(service.hostname)
            services.append(service)
    present = {(i.namespace, i.name) for i in registry.instances}
    instances = list(registry.instances) + [
        i for i in workload_entry_instances(configs) if (i.namespace, i.name) not in present
    ]
    return RegistrySnapshot(
        services=tuple(services), instances=tuple(instances), secrets=registry.secrets
    )


def external_name_fields(name: str, namespace: str, target: str) -> dict[str, Any]:
    """An ExternalName Service as Istio's Kubernetes registry builds it without its alias mode
    (`ENABLE_EXTERNAL_NAME_ALIAS=false`), which is also what local mode needs (no cluster DNS
    to follow the CNAME): a mesh-external service resolved by DNS, one endpoint per port at
    `externalName:port`, no sidecar there. Its own name keeps routes and DestinationRules."""
    if not target:
        return {}
    entry = WorkloadInstance(name, name, namespace, target, sidecar=False)
    return {"mesh_external": True, "resolution": "DNS", "entries": (entry,)}
