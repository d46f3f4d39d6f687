"""Pods whose containers listen on the host's loopback at their own container ports, and the
ports two of them would both take.

In the shared mode (no network namespace per pod) a sidecar's app listens on 127.0.0.1 at a port
of the mesh's own range, behind its sidecar's inbound listener on the pod's address; a pod
without a sidecar listens on its own address (127.A.x.y). A pod of several containers with a
sidecar cannot be moved so: each container reaches the others on localhost at their container
ports, as in a pod, so they listen on 127.0.0.1 at their container ports (`listens_on_host`),
as `hostNetwork` pods do on a node. Two such pods declaring one port (two replicas of one
Deployment included) cannot both run: the second one's container fails to bind and restarts
forever. Kubernetes' scheduler keeps such a second `hostNetwork` pod off the node (Pending, "no
free ports"); here there is one node, so `apply` refuses the change instead, whole, naming the
file, line and field path of the port (`clashes`). The isolated mode (a network namespace per
pod) has no such limit. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pilotfish.config.objects import Diagnostic
from pilotfish.registry.kube_workloads import diagnostics_for, is_kube_workload, pod_parts
from pilotfish.registry.workloads import RawDocumentLike, WorkloadSpec


def listens_on_host(workload: WorkloadSpec) -> bool:
    """In the shared mode, the pod's containers listen on 127.0.0.1 at its container ports (see
    the docstring), not at ports of the mesh's range."""
    return workload.sidecar and bool(workload.more)


def _who(workload: WorkloadSpec) -> str:
    return f"{workload.kind} {workload.namespace}/{workload.name}"


def _port_path(doc: RawDocumentLike, port: int) -> str:
    """The field path of the pod's first `containerPort: port` ("" when not found)."""
    prefix, _, spec = pod_parts(doc)
    containers = spec.get("containers")
    for i, container in enumerate(containers if isinstance(containers, list) else []):
        ports = container.get("ports") if isinstance(container, dict) else None
        for j, raw in enumerate(ports if isinstance(ports, list) else []):
            if isinstance(raw, dict) and raw.get("containerPort") == port:
                return f"{prefix}spec.containers[{i}].ports[{j}].containerPort"
    return ""


def _document(docs: Iterable[RawDocumentLike], workload: WorkloadSpec) -> RawDocumentLike | None:
    for doc in docs:
        meta: Any = doc.data.get("metadata")
        if (
            doc.kind == workload.kind
            and isinstance(meta, dict)
            and meta.get("name") == workload.name
            and meta.get("namespace", workload.namespace) == workload.namespace
        ):
            return doc
    return None


def clashes(
    docs: Iterable[RawDocumentLike],
    incoming: Iterable[WorkloadSpec],
    running: Iterable[WorkloadSpec],
) -> list[Diagnostic]:
    """Errors for the ports the `incoming` workloads (parsed from `docs`, which replace the
    `running` ones of the same name) would take on the host's loopback where another pod, or
    another replica of the same one, takes it already."""
    incoming = list(incoming)
    replaced = {(w.namespace, w.name) for w in incoming}
    taken: dict[int, str] = {}
    for workload in running:
        if (workload.namespace, workload.name) not in replaced and listens_on_host(workload):
            for port in workload.ports:
                taken.setdefault(port, _who(workload))
    found: list[Diagnostic] = []
    kube = [doc for doc in docs if is_kube_workload(doc)]
    for workload in incoming:
        if not listens_on_host(workload):  # most: looked up no further
            continue
        doc = _document(kube, workload)
        if doc is None:
            continue
        report = diagnostics_for(doc, found)
        many = workload.kind != "Pod" and workload.replicas > 1
        for port in workload.ports:
            path = _port_path(doc, port)
            if many:
                report("error", path, f"{port}: its {workload.replicas} replicas would each "
                       f"listen on the host's 127.0.0.1:{port} {_WHY}")  # fmt: skip
            elif port in taken:
                report("error", path, f"{port} is taken on the host's 127.0.0.1 by "
                       f"{taken[port]} {_WHY}")  # fmt: skip
            taken.setdefault(port, _who(workload))
    return found


_WHY = (
    "(sharing the host's network, the containers of a pod with a sidecar and several containers "
    "listen there at their own ports, as a hostNetwork pod's: two pods cannot take one port; "
    "use another port, one replica, or `pilotfish up --isolated`)"
)
