"""`pilotfish rollout restart deployment/NAME… [-n NS]` (also `deployment NAME…`, or
`deployment` alone: every deployment of the namespace), as `kubectl rollout restart`.

A workload's pods are replaced as Kubernetes replaces them: the command stamps the pod template
with `kubectl.kubernetes.io/restartedAt` (a Workload: its own annotations) and applies it back;
the launcher replaces every pod whose template changed (`local.specs.same_workload`), and the
command returns once each pod of the deployment was started again and is ready, then prints
kubectl's `deployment.apps/NAME restarted`.

A gateway is restarted without losing a request. In Kubernetes a rolling update starts a new
gateway pod, waits until it is ready, then drains the old one. A local gateway owns one address
(the ingress address), so its new Envoy starts beside the old one on the same sockets instead
(Envoy's hot restart, as Istio's pilot-agent did for years: see `agent.hot_restart`); the old
one drains and exits. Every pod of the deployment is restarted, one after the other, each once
its predecessor is LIVE.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.kube_get import DEPLOY_KINDS
from pilotfish.cli.kube_pods import CONTROL_PLANE
from pilotfish.cli.selectors import Selector
from pilotfish.local.restarts import request_restart

ROUTER = "router"


def restart_command(
    targets: list[str], namespace: str | None, state_dir: Path, timeout: float
) -> int:
    ns = namespace or "default"
    for name in _deployment_names(targets, ns, state_dir):
        info = running_mesh(state_dir)
        pods = _pods(info, name, ns) or [
            key for key in _pods(info, name, None) if info["proxies"][key].get("type") == ROUTER
        ]  # a gateway is found in its namespace without -n, as before
        if pods and all(info["proxies"][pod].get("type") == ROUTER for pod in pods):
            _restart_gateway(info, name, pods, state_dir, timeout)
        elif _restart_workload(info, name, ns, state_dir, timeout):
            return 1
        print(f"deployment.apps/{name} restarted")
    return 0


def _pods(info: dict[str, Any], workload: str, namespace: str | None) -> list[str]:
    """`NAME.NS` of the pods of a deployment (in any namespace: None)."""
    return sorted(
        key
        for key, proxy in info.get("proxies", {}).items()
        if proxy.get("workload") == workload and namespace in (None, proxy.get("namespace"))
    )


def _deployment_names(targets: list[str], namespace: str, state_dir: Path) -> list[str]:
    """The deployments named (`deployment/a deploy/b`, `deployment a b`), or every one of the
    namespace (`deployment` alone, as kubectl)."""
    if not targets:
        raise UserError("required resource not specified")
    pairs = [t.partition("/") for t in targets]
    if any(sep for _, sep, _ in pairs):
        if not all(sep and name for _, sep, name in pairs):
            raise UserError("there is no need to specify a resource type as a separate argument")
        kinds, names = {k.lower() for k, _, _ in pairs}, [n for _, _, n in pairs]
    else:
        kinds, names = {targets[0].lower()}, targets[1:]
    if not kinds <= set(DEPLOY_KINDS):
        raise UserError(f"local mode restarts deployments, not {sorted(kinds)[0]}")
    if names:
        return names
    from pilotfish.cli.kube_get import objects

    every = objects("deploy", running_mesh(state_dir))  # the control plane's is not restarted
    return sorted(
        o["metadata"]["name"]
        for o in every
        if o["metadata"]["namespace"] == namespace and o["metadata"]["name"] != CONTROL_PLANE
    )


def _restart_workload(
    info: dict[str, Any], name: str, namespace: str, state_dir: Path, timeout: float
) -> int:
    """Stamp the pod template and apply it back (its pods' sidecar injection decided anew, as
    for new pods); wait until every pod was started again. Quiet unless it fails."""
    from pilotfish.cli.apply import apply_files
    from pilotfish.cli.kube_wait import stored_deployment
    from pilotfish.config.yaml_text import dump_yaml
    from pilotfish.local.specs import RESTARTED_AT
    from pilotfish.registry.workloads import INJECTED_ANNOTATION

    doc = stored_deployment(info, namespace, name)
    if doc is None:
        return 1
    meta = doc.setdefault("metadata", {})
    (meta.get("annotations") or {}).pop(INJECTED_ANNOTATION, None)
    if doc.get("kind") == "Deployment":
        template = doc.setdefault("spec", {}).setdefault("template", {})
        meta = template.setdefault("metadata", {})
    started = time.time()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.setdefault("annotations", {})[RESTARTED_AT] = stamp
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = apply_files([(f"<restart {name}>", dump_yaml([doc]))], state_dir, True, timeout,
                           namespace)  # fmt: skip
    if code:
        print(said.getvalue(), end="", file=sys.stderr)
        return 1
    before = len(_pods(info, name, namespace))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = running_mesh(state_dir)
        rows = [now["proxies"][key] for key in _pods(now, name, namespace)]
        # The old pods' rows may be gone before the new ones appear: wait for as many again.
        if len(rows) >= before and all(
            float(p.get("created") or 0) >= started and p.get("ready") for p in rows
        ):
            return 0
        time.sleep(0.1)
    raise UserError(f'deployment "{name}": its pods did not start again in {timeout:.0f} s')


def delete_pods(
    names: list[str],
    selector: Selector | None,
    namespace: str | None,
    state_dir: Path,
    delete: Callable[[str, list[str]], int],
    timeout: float = 60.0,
) -> int:
    """`delete pod NAME…` or `delete pod -l SELECTOR`: a pod of a Deployment (or Workload) is
    replaced, as its ReplicaSet replaces a deleted pod, with its sidecar injection decided
    anew (Istio's "Installing the Sidecar" page: label the namespace, delete the pod, the new
    one is injected); in local mode every pod of that deployment is replaced. A v1 Pod object
    is deleted (`delete`)."""
    from pilotfish.cli.kube_views import no_resources
    from pilotfish.cli.kube_wait import stored_deployment

    if not names and selector is None:
        print("error: resource(s) were provided, but no name was specified", file=sys.stderr)
        return 1
    ns = namespace or "default"
    info = running_mesh(state_dir)
    rows = {
        str(p.get("instance") or key.split(".")[0]): p
        for key, p in sorted(info.get("proxies", {}).items())
        if p.get("namespace") == ns
    }
    if selector is not None:
        labels = {n: p.get("labels") or {} for n, p in rows.items()}
        names = [n for n in rows if selector.matches(labels[n])]
        if not names:
            print(no_resources(ns), file=sys.stderr)
            return 0
    owned: dict[str, list[str]] = {}
    bare: list[str] = []
    for pod in [n for n in names if n in rows]:
        workload = str(rows[pod].get("workload") or "")
        if stored_deployment(info, ns, workload, report=False) is not None:
            owned.setdefault(workload, []).append(pod)
        else:
            bare.append(pod)  # a v1 Pod
    code = delete("pod", bare) if bare else 0
    for pod in [n for n in names if n not in rows]:
        print(f'Error from server (NotFound): pods "{pod}" not found', file=sys.stderr)
        code = 1
    for workload, pods in owned.items():
        for pod in pods:
            print(f'pod "{pod}" deleted')
        code = max(code, _restart_workload(info, workload, ns, state_dir, timeout))
    return code


def _restart_gateway(
    info: dict[str, Any], name: str, pods: list[str], state_dir: Path, timeout: float
) -> None:
    run_dir = Path(info["state_dir"]) / "run"
    for pod in pods:
        request = request_restart(run_dir, pod)
        result = _wait_result(state_dir, pod, request, timeout)
        if result is None:
            raise UserError(f"pod {pod}: not restarted after {timeout:.0f} s")
        if not result.get("ok"):
            raise UserError(f"pod {pod}: {result.get('error') or 'not restarted'}")
        print(f"pod {pod}: new Envoy live (restart epoch {result['epoch']}), the old one drains")


def _wait_result(state_dir: Path, pod: str, request: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = running_mesh(state_dir).get("proxies", {}).get(pod) or {}
        result = row.get("restart") or {}
        if result.get("request") == request:
            return dict(result)
        time.sleep(0.1)
    return None
