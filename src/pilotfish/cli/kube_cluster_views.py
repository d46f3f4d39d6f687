"""`pilotfish get crd` and `pilotfish get events`, as kubectl prints them for the local mesh.

CRDs: the custom kinds the control plane serves (Istio's, e.g. `virtualservices.networking.
istio.io`, pilotfish's `workloads.pilotfish.io`, the Prometheus Operator's two), created when
the control plane started, so Istio's `kubectl get crds | grep 'istio.io'` check counts them.
The Kubernetes Gateway API's served kinds are there too, so Istio's Getting Started check
(`get crd gateways.gateway.networking.k8s.io || apply -k …`) finds them installed; they are
built in, so while no mesh runs (the "Kubernetes Gateway API" task checks before `istioctl
install`) `get crd` lists them alone, as a cluster with the Gateway API and no Istio yet.

Events: what the local kubelet (the launcher and each pod's agent) did, derived from the pods
it runs: `Scheduled` to the one node and `Started` for each container when the pod was created;
a pod not ready an `Unhealthy` warning, last seen when the launcher last read the pods'
readiness (mesh.json's `written_at`); and the events the kubelet recorded of each container
(`agent.container_events`: its startup and liveness probes' `Unhealthy` "Liveness probe failed:
…" and `Killing`, its restart back-off's `BackOff` "Back-off restarting failed container C in
pod P", only when a restart waited), with their count and first time, which `describe pod` also
shows as kubectl's Events table (`describe_events`). An event's `creationTimestamp` is when it
was last seen (no history is kept); `get -o yaml` adds its uid and resourceVersion
(`server_meta.as_served`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pilotfish.cli import kube_get, kube_pods, kube_views
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.get_output import listed, not_found, print_object
from pilotfish.config.kinds import (
    GATEWAY_API_GROUP,
    GATEWAY_API_NOT_YET,
    KIND_NAMES,
    is_gateway_api,
    plural,
)
from pilotfish.local.client import MeshNotRunning, read_mesh

CRD_KINDS = ("crd", "crds", "customresourcedefinition", "customresourcedefinitions")
EVENT_KINDS = ("ev", "event", "events")
CORE_GROUPS = ("", "apps")  # built into Kubernetes: no CRD


def crds(info: dict[str, Any]) -> list[tuple[str, float]]:
    """(name, created) of every CRD the mesh serves, sorted by name."""
    created = float(info.get("control_plane_created") or time.time())
    names = {f"{plural(k.kind)}.{k.group}" for k in KIND_NAMES if k.group not in CORE_GROUPS}
    return [(name, created) for name in sorted(names)]


def crd_command(names: list[str], output: str, state_dir: Path) -> int:
    try:
        served = crds(read_mesh(state_dir))
    except MeshNotRunning:  # before `istioctl install`: the Gateway API's, built in, only
        served = [c for c in crds({}) if c[0].endswith(f".{GATEWAY_API_GROUP}")]
    by_name = {n: at for n, at in served}
    found = [(n, by_name[n]) for n in names if n in by_name] if names else served
    missing = [n for n in names if n not in by_name]
    if output == "name" and found:
        print("\n".join(f"customresourcedefinition.apiextensions.k8s.io/{n}" for n, _ in found))
    elif found or not names:
        _print([("NAME", "CREATED AT"), *((n, kube_views.timestamp(at)) for n, at in found)])
    return not_found("customresourcedefinitions.apiextensions.k8s.io", missing)


def events(info: dict[str, Any]) -> list[dict[str, Any]]:
    """kubectl's Event objects (core/v1 fields) for the mesh's pods."""
    found: list[dict[str, Any]] = []
    probed = kube_pods.probe_events(info)
    for pod in kube_get.objects("pod", info):
        meta = pod["metadata"]
        name, stamp = meta["name"], meta.get("creationTimestamp")
        node = f"Successfully assigned {meta['namespace']}/{name} to localhost"
        seen: list[tuple[str, str, str, int, Any]] = [
            ("Normal", "Scheduled", node, 1, stamp),
            *(("Normal", "Started", f"Started container {c['name']}", 1, stamp)
              for c in pod["spec"]["containers"]),
        ]  # fmt: skip
        for status in pod["status"]["containerStatuses"]:
            waiting = status["state"].get("waiting") or {}
            if waiting.get("reason") == "CreateContainerConfigError":  # the kubelet's words
                seen.append(("Warning", "Failed", f"Error: {waiting['message']}", 1, stamp))
        if not kube_pods.is_ready(pod):
            read = kube_views.timestamp(float(info["written_at"])) if "written_at" in info else None
            seen.append(("Warning", "Unhealthy", "Readiness probe failed", 1, read))
        found.extend(_event(meta, kind, reason, text, n, at) for kind, reason, text, n, at in seen)
        for index, event in enumerate(probed.get((meta["namespace"], name), [])):
            found.append(_event(
                meta, event["type"], event["reason"], event["message"], int(event["count"]),
                kube_views.timestamp(float(event["last"])), f"probe{index}",
                kube_views.timestamp(float(event["first"])),
            ))  # fmt: skip
    return found


def describe_events(info: dict[str, Any], namespace: str, pod: str) -> list[str]:
    """`kubectl describe pod`'s Events table for the kubelet's probe events of a pod (none:
    no lines): Type, Reason, Age (`10s (x3 over 20s)`), From, Message."""
    now = time.time()
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----",
            "-------")]  # fmt: skip
    for event in kube_pods.probe_events(info).get((namespace, pod), []):
        age = kube_views.age(now - float(event["last"]))
        if event["count"] > 1:
            age += f" (x{event['count']} over {kube_views.age(now - float(event['first']))})"
        rows.append((event["type"], event["reason"], age, "kubelet", event["message"]))
    if len(rows) == 2:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
             for r in rows]  # fmt: skip
    return ["Events:", *(line.rstrip() for line in lines)]


def _event(
    pod: dict[str, Any],
    kind: str,
    reason: str,
    message: str,
    count: int,
    at: str | None,
    suffix: str = "",
    first: str | None = None,
) -> dict[str, Any]:
    name, ns = pod["name"], pod["namespace"]
    meta = {"name": f"{name}.{suffix or reason.lower()}", "namespace": ns}
    if at is not None:  # the API server's (no history kept: the time it was last seen)
        meta["creationTimestamp"] = at
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta,
        **({"firstTimestamp": first} if first else {}),
        "type": kind,
        "reason": reason,
        "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
        "message": message,
        "count": count,
        "lastTimestamp": at,
        "source": {"component": "kubelet", "host": "localhost"},
    }


def events_command(namespace: str | None, output: str, state_dir: Path) -> int:
    """`namespace` None: every namespace (-A), with kubectl's NAMESPACE column."""
    found = [
        e
        for e in events(running_mesh(state_dir))
        if namespace in (None, e["metadata"]["namespace"])
    ]
    if output in ("yaml", "json") or output.startswith("jsonpath="):
        return print_object(listed(found), output)
    if not found:
        print(kube_views.no_resources(namespace), file=sys.stderr)
        return 0
    now = time.time()
    head = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    rows = [(["NAMESPACE"] if namespace is None else []) + head]
    for e in sorted(found, key=lambda e: (e["lastTimestamp"] or "", e["metadata"]["name"])):
        seen = kube_views.age_since(e["lastTimestamp"], now)
        message = e["message"] + (f" (x{e['count']})" if e["count"] > 1 else "")
        obj = f"pod/{e['involvedObject']['name']}"
        row = [seen, e["type"], e["reason"], obj, message]
        rows.append(([e["metadata"]["namespace"]] if namespace is None else []) + row)
    _print(rows)
    return 0


def cluster_view(
    kind: str, names: list[str], namespace: str | None, every: bool, output: str, state_dir: Path
) -> int:
    """`get crd [NAME]`, `get events [-n NS | -A]`, and the Gateway API's kinds not served
    yet (GRPCRoute, TCPRoute, ...: said so)."""
    if is_gateway_api(kind):
        print(f"error: {GATEWAY_API_NOT_YET}", file=sys.stderr)
        return 1
    if kind.lower() in CRD_KINDS:
        return crd_command(names, output, state_dir)
    return events_command(None if every else namespace or "default", output, state_dir)


def _print(rows: list[Any]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
