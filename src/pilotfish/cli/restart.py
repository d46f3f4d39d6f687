"""`pilotfish rollout restart deployment/NAME [-n NS]`: restart a gateway without losing a request.

In Kubernetes a rolling update starts a new gateway pod, waits until it is ready, then drains the
old one. A local gateway owns one address (the ingress address), so its new Envoy starts beside
the old one on the same sockets instead (Envoy's hot restart, as Istio's pilot-agent did for
years: see `agent.hot_restart`); the old one drains and exits. Every pod of the deployment is
restarted, one after the other, each once its predecessor is LIVE. Other workloads are not
restarted in place: the command says so (scale them, or apply them changed, instead).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.pods import PodNotFound, resolve_pod
from pilotfish.local.restarts import request_restart

ROUTER = "router"


def deployment_pods(info: dict[str, Any], target: str, namespace: str | None) -> list[str]:
    """`NAME.NS` of every pod of the deployment TARGET names (or of the pod's deployment)."""
    try:
        _, row = resolve_pod(info, target, namespace)
    except PodNotFound as exc:
        raise UserError(str(exc).replace("pods ", "deployments ", 1)) from None
    workload, ns = row.get("workload"), row.get("namespace")
    return sorted(
        key
        for key, proxy in info.get("proxies", {}).items()
        if proxy.get("workload") == workload and proxy.get("namespace") == ns
    )


def restart_command(target: str, namespace: str | None, state_dir: Path, timeout: float) -> int:
    info = running_mesh(state_dir)
    pods = deployment_pods(info, target, namespace)
    name = info["proxies"][pods[0]]["workload"]
    if any(info["proxies"][pod].get("type") != ROUTER for pod in pods):
        raise UserError(
            f'deployment "{name}": only gateways restart in place in a local mesh; '
            "scale the workload or apply it changed to replace its pods"
        )
    run_dir = Path(info["state_dir"]) / "run"
    for pod in pods:
        request = request_restart(run_dir, pod)
        result = _wait_result(state_dir, pod, request, timeout)
        if result is None:
            raise UserError(f"pod {pod}: not restarted after {timeout:.0f} s")
        if not result.get("ok"):
            raise UserError(f"pod {pod}: {result.get('error') or 'not restarted'}")
        print(f"pod {pod}: new Envoy live (restart epoch {result['epoch']}), the old one drains")
    print(f"deployment.apps/{name} restarted")
    return 0


def _wait_result(state_dir: Path, pod: str, request: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = running_mesh(state_dir).get("proxies", {}).get(pod) or {}
        result = row.get("restart") or {}
        if result.get("request") == request:
            return dict(result)
        time.sleep(0.1)
    return None
