"""`describe_report(view, kind, name, namespace)`: the whole `pilotfish describe` answer for one
pod (workload instance) or service of a `MeshView`, as lines and an exit code.

Names: a pod is an instance (`reviews-v2-0`) or a workload (`reviews-v2`, its first instance);
a service is `name` or `name.namespace` (or a ServiceEntry host). Exit 0 when described, 1 when
no such pod/service exists, 2 for an unknown resource type. Pure: no I/O.
"""

from __future__ import annotations

from pilotfish.cli.describe.authz import authz_lines
from pilotfish.cli.describe.mesh_view import MeshView
from pilotfish.cli.describe.render import (
    SEPARATOR,
    description_lines,
    exposure_lines,
    kname,
    mtls_lines,
    pod_lines,
    service_header,
)
from pilotfish.cli.describe.rules import describe_service, selects, services_selecting
from pilotfish.cli.pods import PodNotFound, pod_name_readings
from pilotfish.registry.types import Service, WorkloadInstance
from pilotfish.translate.peer_authentication import effective_mtls

POD_KINDS = ("pod", "pods", "po")
SERVICE_KINDS = ("service", "services", "svc")


def split_name(name: str, namespace: str | None) -> tuple[str, str | None]:
    """`reviews.default` -> (reviews, default); an explicit namespace wins."""
    if namespace is None and "." in name:
        base, _, ns = name.partition(".")
        return base, ns
    return name, namespace


def find_pod(view: MeshView, name: str, namespace: str | None) -> WorkloadInstance | None:
    """As kubectl: `NAME`, `NAME.NS`, `deploy/NAME`; without a namespace `default` comes first."""
    try:
        readings = pod_name_readings(name, namespace)
    except PodNotFound:
        return None
    for kind, base, ns in readings:  # a name with dots whole, then NAME.NS
        candidates = sorted(
            (i for i in view.push.registry.instances if ns in (None, i.namespace)),
            key=lambda i: (i.namespace != "default", i.namespace, i.name),
        )
        by_instance = [i for i in candidates if i.name == base and kind != "workload"]
        by_workload = [i for i in candidates if i.workload == base and kind != "pod"]
        found = next(iter(by_instance + by_workload), None)
        if found is not None:
            return found
    return None


def find_service(view: MeshView, name: str, namespace: str | None) -> Service | None:
    services = view.push.services
    exact = next((s for s in services if s.hostname == name), None)
    if exact is not None:
        return exact
    base, ns = split_name(name, namespace)
    found = [s for s in services if s.name == base and ns in (None, s.namespace)]
    return min(found, key=lambda s: (s.namespace != "default", s.namespace), default=None)


def selected_pods(view: MeshView, service: Service) -> list[WorkloadInstance]:
    return sorted(
        (
            i
            for i in view.push.registry.instances
            if i.namespace == service.namespace
            and service.selector
            and selects(dict(service.selector), i.label_map)
        ),
        key=lambda i: i.name,
    )


def pod_report(view: MeshView, pod: WorkloadInstance) -> list[str]:
    current = pod.namespace
    services = services_selecting(view.push, pod.label_map, pod.namespace)
    lines = pod_lines(pod, services, view.proxy(pod.name, pod.namespace), current)
    lines += [SEPARATOR, *mtls_lines(pod, effective_mtls(pod.namespace, pod.label_map, view.push))]
    lines += [SEPARATOR, *authz_lines(pod, view.push)]
    exposed: list[str] = []
    for service in services:
        description = describe_service(
            view.push, service, [pod.label_map], pod.namespace, view.routers(), pod.label_map
        )
        lines += [SEPARATOR, *service_header(service, [pod], current, list_pods=False)]
        lines += description_lines(description, current)
        exposed += exposure_lines(description, current)
    return lines + exposed


def service_report(view: MeshView, service: Service) -> list[str]:
    current = service.namespace
    pods = selected_pods(view, service)
    if not pods and not service.entries:
        return [f'Service "{kname(service.name, service.namespace, current)}" has no pods.']
    labels = [p.label_map for p in pods] + [e.label_map for e in service.entries]
    description = describe_service(view.push, service, labels, service.namespace, view.routers())
    lines = service_header(service, pods, current, list_pods=bool(pods))
    for pod in pods:
        proxy = view.proxy(pod.name, pod.namespace)
        if proxy is None:
            lines.append(f"WARNING: Pod {pod.name} sidecar is not connected to the control plane")
        lines += (
            [f"WARNING: Pod {pod.name} sidecar {error}" for error in proxy.errors] if proxy else []
        )
    lines += description_lines(description, current)
    return lines + exposure_lines(description, current)


def describe_report(
    view: MeshView, kind: str, name: str, namespace: str | None = None
) -> tuple[list[str], int]:
    if kind in POD_KINDS:
        pod = find_pod(view, name, namespace)
        if pod is None:
            return [f'Error: pods "{name}" not found'], 1
        return pod_report(view, pod), 0
    if kind in SERVICE_KINDS:
        service = find_service(view, name, namespace)
        if service is None:
            return [f'Error: services "{name}" not found'], 1
        return service_report(view, service), 0
    return [f'Error: unknown resource type "{kind}" (use pod or service)'], 2
