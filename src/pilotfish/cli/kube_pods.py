"""The local mesh's pods as the API server shows them (pure: mesh.json in, core/v1 Pods out), for
`get pods`, `get pod -o yaml|json|jsonpath`, events, endpoints and port-forward.

A pod is the control plane `istiod-0` in `istio-system` or an instance `mesh.json` lists: a
sidecar's app containers and `istio-proxy` (`2/2`, `3/3` with two app containers), a gateway's
`istio-proxy`, the app containers of a pod without a sidecar (`1/1`). What Istio's injector writes
into an injected pod is there, as `kubectl get pod -o yaml` shows it in Istio: the labels of its
template (`security.istio.io/tlsMode`, `service.istio.io/canonical-name` and `-revision`,
`cli.kube_inject.injected_labels`) and its annotations (`sidecar.istio.io/status`, `istio.io/rev`,
the `kubectl.kubernetes.io/default-container`s, and the `prometheus.io/*` scrape annotations the
mesh's Prometheus reads). The status has Kubernetes' fields: `phase`, `conditions`, one
`containerStatuses` entry per container (`ready`, `started`, `restartCount`, `state.running`,
`state.waiting` or `state.terminated`, and after a restart `lastState.terminated.finishedAt`;
`started` once its startupProbe passed),
`hostIP(s)`, `podIP(s)`; `ready_containers` and `restarts` read them back for kubectl's READY and
RESTARTS columns.
"""

from __future__ import annotations

from typing import Any

from pilotfish.agent.restart_backoff import REASON
from pilotfish.cli.kube_inject import (
    DEFAULT_CONTAINER_ANNOTATIONS,
    REV_ANNOTATION,
    STATUS,
    injected_labels,
)
from pilotfish.config.object_meta import CREATED, kube_time
from pilotfish.model.proxy import is_gateway_pod
from pilotfish.registry.pod_fields import NODE_NAME, pod_uid
from pilotfish.registry.workloads import STATUS_ANNOTATION

CONTROL_PLANE = "istiod"
ISTIO_SYSTEM = "istio-system"
PROXY_CONTAINER = "istio-proxy"


def object_meta(
    name: str, namespace: str, created: float, labels: dict[str, str]
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if created:
        meta[CREATED] = kube_time(created)
    return meta


def istiod_serving(info: dict[str, Any]) -> bool:
    """False once istio-system was deleted (`controlplane.removal`): no istiod pod, Service or
    namespace is listed then."""
    return info.get("control_plane_serving") is not False


def pod_processes(info: dict[str, Any]) -> list[tuple[str, str, dict[str, int | None]]]:
    """(namespace, name, {container: pid}) of every pod `pods` lists, in its order: the control
    plane's `discovery`, a sidecar's app containers and `istio-proxy`, a gateway's
    `istio-proxy`, the app containers of a pod without a sidecar."""
    found: list[tuple[str, str, dict[str, int | None]]] = [
        (ISTIO_SYSTEM, f"{CONTROL_PLANE}-0", {"discovery": _pid(info.get("control_plane_pid"))})
    ][: 1 if istiod_serving(info) else 0]
    for key, proxy in sorted(info.get("proxies", {}).items()):
        rows = container_rows(proxy)
        name = str(proxy.get("instance") or key.split(".")[0])
        containers = {c: _pid(row.get("pid")) for c, row in rows.items()}
        found.append((str(proxy.get("namespace")), name, containers))
    return found


def container_rows(proxy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each container of a pod (a row of mesh.json's `proxies`) by name, in the pod's order,
    with its status (`agent.containers.container_row`'s shape): the app containers (the first
    named by its app label when the pod does not name it, a `Workload`), then `istio-proxy`."""
    rows: dict[str, dict[str, Any]] = {}
    if proxy.get("type", "sidecar") == "sidecar" and not is_gateway_pod(proxy.get("labels") or {}):
        names = proxy.get("app_containers") or [str(proxy.get("app") or proxy.get("workload"))]
        rows[str(names[0])] = {k[4:]: v for k, v in proxy.items() if k.startswith("app_")}
        others = proxy.get("containers") or {}
        for other in names[1:]:
            rows[str(other)] = dict(others.get(other) or {})
    if has_proxy(proxy):  # no sidecar: the app containers alone (`1/1`, `2/2`)
        rows[PROXY_CONTAINER] = {
            "pid": proxy.get("envoy_pid"),
            "restarts": proxy.get("envoy_restarts"),
            "restarted_at": proxy.get("envoy_restarted_at"),
            "waiting": proxy.get("envoy_waiting"),
            "events": proxy.get("envoy_events") or [],
        }
    return rows


def has_proxy(proxy: dict[str, Any]) -> bool:
    """The pod (a row of mesh.json's `proxies`) runs an Envoy: its sidecar, or a gateway's."""
    return bool(proxy.get("sidecar", True)) or is_gateway_pod(proxy.get("labels") or {})


def _pid(value: Any) -> int | None:
    return int(value) if value else None


def node_address(info: dict[str, Any]) -> str:
    """The address of the mesh's one node (this machine): where the ingress gateway accepts
    (its Service's node ports), else the control plane's. Pods' `status.hostIP`."""
    return (
        str(info.get("ingress_address") or "")
        or str(info.get("api", "")).split("//")[-1].split(":")[0]
    )


def pods(info: dict[str, Any]) -> list[dict[str, Any]]:
    rows = sorted(info.get("proxies", {}).items())
    host = node_address(info)
    found = []
    for (namespace, name, containers), proxy in zip(
        pod_processes(info),
        [None, *(proxy for _, proxy in rows)][0 if istiod_serving(info) else 1 :],
        strict=True,
    ):
        if proxy is None:  # the control plane
            created = float(info.get("control_plane_created") or 0)
            labels = {"app": CONTROL_PLANE, "istio": "pilot"}
            annotations: dict[str, str] = {}
            address = str(info.get("api", "")).split("//")[-1].split(":")[0]
            ready, restarted, config_error = True, {}, ""
        else:
            created = float(proxy.get("created") or 0)
            labels = {str(k): str(v) for k, v in (proxy.get("labels") or {}).items()}
            annotations = {str(k): str(v) for k, v in (proxy.get("prometheus") or {}).items()}
            if PROXY_CONTAINER in containers and len(containers) > 1:  # injected
                labels |= injected_labels(labels, str(proxy.get("workload") or ""))
                app = next(iter(containers))
                annotations |= dict.fromkeys(DEFAULT_CONTAINER_ANNOTATIONS, app)
                annotations |= {REV_ANNOTATION: "default", STATUS_ANNOTATION: STATUS}
            if own := proxy.get("default_container"):  # the pod's own: the injector keeps it
                annotations |= dict.fromkeys(DEFAULT_CONTAINER_ANNOTATIONS, str(own))
            address = str(proxy.get("ip") or "")
            ready = bool(proxy.get("ready"))
            restarted = container_rows(proxy)
            config_error = str(proxy.get("app_config_error") or "")
        meta = object_meta(name, namespace, created, labels)
        meta["uid"] = pod_uid(namespace, name, address)  # the Downward API's `metadata.uid`
        if annotations:
            meta["annotations"] = dict(sorted(annotations.items()))
        statuses = [
            _container_status(c, pid, ready, created, restarted.get(c) or {})
            for c, pid in containers.items()
        ]
        if config_error:  # the kubelet could not make the app's env: it never starts
            statuses[0]["state"] = {
                "waiting": {"message": config_error, "reason": "CreateContainerConfigError"}
            }
            for other in statuses[1:]:  # its istio-proxy runs and is ready (`1/2`)
                other["ready"] = other["started"]
        if any("running" in s["state"] and not s["started"] for s in statuses):  # a startupProbe
            for other in statuses:  # not passed yet: that container is not ready, the others are
                other["ready"] = other["started"]
        if any(_ended(s) for s in statuses):  # ended (its restartPolicy), or backing off:
            for other in statuses:  # the pod is not ready, the containers that run are (`2/3`)
                other["ready"] = other["started"]
        running = all(  # Kubernetes' phase Running: every container ran (restarting counts)
            {"running", "terminated"} & set(s["state"]) or "lastState" in s for s in statuses
        )
        found.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {"containers": [{"name": n} for n in containers], "nodeName": NODE_NAME},
                "status": {
                    "phase": "Running" if running else "Pending",
                    "conditions": _conditions(running and ready, created),
                    "containerStatuses": statuses,
                    "hostIP": host,
                    "hostIPs": [{"ip": host}],
                    "podIP": address,
                    "podIPs": [{"ip": address}] if address else [],
                    **({"startTime": kube_time(created)} if created else {}),
                },
            }
        )
    return found


def _container_status(
    name: str, pid: int | None, ready: bool, created: float, row: dict[str, Any]
) -> dict[str, Any]:
    """A container's `containerStatuses` entry from its row (`container_rows`), as the kubelet
    reports it: running; waiting (starting, or CrashLoopBackOff while its restart waits for
    the back-off, with the kubelet's message); terminated (ended for good as its restartPolicy
    says, or just ended and restarting); and once a run ended, `lastState.terminated` (exit
    code, Error or Completed, when that run started and ended)."""
    restarts = int(row.get("restarts") or 0)
    last = float(row["restarted_at"]) if row.get("restarted_at") else None
    started_at = kube_time(last or created) if (last or created) else None
    ended = _terminated(row)
    state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
    if pid is not None:
        state = {"running": {"startedAt": started_at} if started_at else {}}
    elif row.get("waiting"):
        state = {"waiting": {"message": str(row["waiting"]), "reason": REASON}}
    elif ended is not None:  # for good (its restartPolicy), or before its restart
        state = {"terminated": ended}
    started = pid is not None and row.get("started") is not False  # its startupProbe passed
    status: dict[str, Any] = {
        "name": name,
        "ready": ready and started,
        "restartCount": restarts,
        "started": started,
        "state": state,
    }
    if ended is not None and "terminated" not in state:
        status["lastState"] = {"terminated": ended}
    elif last is not None and "terminated" not in state:  # a restart whose end is not known
        status["lastState"] = {"terminated": {"finishedAt": kube_time(last)}}
    return status


def _ended(status: dict[str, Any]) -> bool:
    """The container is not running: terminated, or waiting for its restart (CrashLoopBackOff)."""
    waiting = status["state"].get("waiting") or {}
    return "terminated" in status["state"] or waiting.get("reason") == REASON


def _terminated(row: dict[str, Any]) -> dict[str, Any] | None:
    """How the container's last run that ended ended, as `state.terminated` says it."""
    code = row.get("exit_code")
    if code is None:
        return None
    began, ended = row.get("last_started_at"), row.get("finished_at")
    return {
        "exitCode": int(code),
        "reason": "Completed" if code == 0 else "Error",
        **({"startedAt": kube_time(float(began))} if began else {}),
        **({"finishedAt": kube_time(float(ended))} if ended else {}),
    }


def _conditions(ready: bool, created: float) -> list[dict[str, str]]:
    when = {"lastTransitionTime": kube_time(created)} if created else {}
    value = "True" if ready else "False"
    return [
        {"type": "PodReadyToStartContainers", "status": "True", **when},
        {"type": "Initialized", "status": "True", **when},
        {"type": "Ready", "status": value, **when},
        {"type": "ContainersReady", "status": value, **when},
        {"type": "PodScheduled", "status": "True", **when},
    ]


def probe_events(info: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The events the kubelet's probes left on each pod's containers (`agent.kubelet_probes`:
    type, reason, message, count, first, last), by (namespace, pod name)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key, proxy in sorted(info.get("proxies", {}).items()):
        name = str(proxy.get("instance") or key.split(".")[0])
        events = [e for row in container_rows(proxy).values() for e in row.get("events") or []]
        if events:
            found[(str(proxy.get("namespace")), name)] = sorted(events, key=lambda e: e["last"])
    return found


def status_column(pod: dict[str, Any]) -> str:
    """kubectl's STATUS (its printPod): the phase, unless a container waits or ended with a
    reason (the first such container's: CreateContainerConfigError, CrashLoopBackOff,
    ContainerCreating, Error, Completed); a pod whose ended containers Completed while others
    run is Running (NotReady when it is not ready)."""
    reason = str(pod["status"]["phase"])
    running = False
    for status in reversed(pod["status"].get("containerStatuses") or []):
        state = status.get("state") or {}
        waiting, ended = state.get("waiting"), state.get("terminated")
        if isinstance(waiting, dict) and waiting.get("reason"):
            reason = str(waiting["reason"])
        elif isinstance(ended, dict) and ended.get("reason"):
            reason = str(ended["reason"])
        elif status.get("ready") and "running" in state:
            running = True
    if reason == "Completed" and running:
        conditions = pod["status"].get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        return "Running" if ready else "NotReady"
    return reason


def ready_containers(pod: dict[str, Any]) -> tuple[int, int]:
    """kubectl's READY: (ready containers, containers)."""
    statuses = pod["status"].get("containerStatuses") or []
    return sum(1 for s in statuses if s.get("ready")), len(statuses)


def is_ready(pod: dict[str, Any]) -> bool:
    ready, total = ready_containers(pod)
    return ready == total


def restarts(pod: dict[str, Any]) -> tuple[int, str | None]:
    """kubectl's RESTARTS: the restarts of every container, and the last one's time."""
    statuses = pod["status"].get("containerStatuses") or []
    count = sum(int(s.get("restartCount") or 0) for s in statuses)
    times = [
        str(s["lastState"]["terminated"]["finishedAt"]) for s in statuses if s.get("lastState")
    ]
    return count, max(times, default=None)
