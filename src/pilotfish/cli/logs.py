"""`pilotfish logs POD [-c CONTAINER]`: a pod's logs, as `kubectl logs` shows them.

CONTAINER is one of the pod's app containers or `istio-proxy` (its Envoy); without `-c`, the
pod's `kubectl.kubernetes.io/default-container` (an injected pod's first app container), else
its first, as kubectl picks. `--all-containers` prints each of the pod's containers in turn
(the app containers, then `istio-proxy`).
POD is named as kubectl names pods (`httpbin-v2-0`, `httpbin-v2`, `NAME.NAMESPACE`,
`deploy/NAME`, with `-n`); `-l key=value[,key=value]` prints the logs of every pod with those
labels, the last 10 lines of each unless `--tail` is given (`--tail=-1`: every line), as
kubectl's `logs` does with a selector. `--tail`, `--since`, `--timestamps`,
`--previous` and `--prefix` are kubectl's (`log_lines`). Reads the files the agent writes
under the instance's run directory (`app.log`, `envoy.log`); the control plane's is `istiod-0`
in istio-system (container `discovery`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pilotfish.agent.containers import container_log_path
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.kube_pods import CONTROL_PLANE, ISTIO_SYSTEM, PROXY_CONTAINER, container_rows
from pilotfish.cli.log_lines import LogError, LogOptions, render
from pilotfish.cli.pods import PodNotFound, resolve_pod
from pilotfish.cli.selectors import Selector, parse_selector
from pilotfish.local.client import control_plane_log
from pilotfish.model.proxy import is_gateway_pod

PROXY_CONTAINERS = (PROXY_CONTAINER, "envoy", "proxy")


def log_file(run_dir: Path, container: str | None, proxy: dict[str, Any] | None = None) -> Path:
    """The file holding CONTAINER's output in an instance's run directory: Envoy's, the first
    app container's, or another container's of the pod (`agent.containers`)."""
    if container in PROXY_CONTAINERS:
        return run_dir / "envoy.log"
    names = list((proxy or {}).get("app_containers") or [])
    if container in names[1:]:
        return container_log_path(run_dir, str(container))
    return run_dir / "app.log"


def last_lines(text: str, tail: int) -> str:
    """The last `tail` lines of `text` (all of it when `tail` < 0), as `kubectl logs --tail`."""
    if tail < 0:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail else ""


def selected_pods(
    info: dict[str, Any], labels: Selector, namespace: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Pods whose labels `labels` selects, in namespace (default: `default`); the control plane
    is `istiod-0` in istio-system, labelled `app: istiod, istio: pilot`."""
    found = [
        (key, proxy)
        for key, proxy in sorted(info.get("proxies", {}).items())
        if proxy.get("namespace") == (namespace or "default")
        and labels.matches(proxy.get("labels") or {})
    ]
    istiod = control_plane_pod(info)
    if namespace == ISTIO_SYSTEM and labels.matches(istiod[1]["labels"]):
        found.insert(0, istiod)
    return found


def control_plane_pod(info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The control plane as the pod kubectl shows (`istiod-0.istio-system`), with its log."""
    log = control_plane_log(Path(info["state_dir"]))
    labels = {"app": CONTROL_PLANE, "istio": "pilot"}
    return f"{CONTROL_PLANE}-0.{ISTIO_SYSTEM}", {"labels": labels, "log": str(log)}


def containers(proxy: dict[str, Any]) -> list[str]:
    """The pod's containers in its order: its app containers (the one of a `Workload` named as
    `get pods` names it), then `istio-proxy`; a gateway is its Envoy alone, the control plane
    `discovery`."""
    if "log" in proxy:
        return ["discovery"]
    if proxy.get("type") == "router" or is_gateway_pod(proxy.get("labels") or {}):
        return [PROXY_CONTAINER]
    return list(container_rows(proxy)) or ["app"]


SELECTOR_TAIL = 10  # kubectl's `--tail` default when pods are chosen by a selector


def logs_command(
    pod: str | None,
    container: str | None,
    tail: int | None,
    namespace: str | None,
    state_dir: Path,
    selector: str | None = None,
    options: LogOptions | None = None,
    all_containers: bool = False,
) -> int:
    """`options` carries everything but `--tail` (-1: every line; None: not given, which is
    every line for one pod and the last `SELECTOR_TAIL` of each with a selector)."""
    info = running_mesh(state_dir)
    if selector is not None:
        labels = parse_selector(selector)
        if labels is None:
            print(f"error: -l {selector!r}: expected key=value[,key=value]", file=sys.stderr)
            return 1
        pods = selected_pods(info, labels, namespace)
        if not pods:
            print(f"No resources found in {namespace or 'default'} namespace.", file=sys.stderr)
            return 0
    elif pod is None:
        print("error: say which pod: pilotfish logs POD (or -l key=value)", file=sys.stderr)
        return 1
    elif namespace == ISTIO_SYSTEM and pod in (
        CONTROL_PLANE,
        f"{CONTROL_PLANE}-0",
        f"deploy/{CONTROL_PLANE}",
    ):
        pods = [control_plane_pod(info)]
    else:
        try:
            pods = [resolve_pod(info, pod, namespace)]
        except PodNotFound as exc:
            print(f"Error from server (NotFound): {exc}", file=sys.stderr)
            return 1
    if tail is None:
        tail = SELECTOR_TAIL if selector is not None else -1
    base = options or LogOptions()
    options = LogOptions(tail, base.since, base.timestamps, base.previous, base.prefix)
    code = 0
    for key, proxy in pods:
        name = str(proxy.get("instance") or key.rpartition(".")[0])
        own = containers(proxy)
        try:
            chosen = own if all_containers else [_chosen(name, proxy, own, container)]
        except LogError as exc:
            print(exc, file=sys.stderr)
            code = 1
            continue
        for which in chosen:
            path = (
                Path(proxy["log"])
                if "log" in proxy
                else log_file(Path(proxy["run_dir"]), which, proxy)
            )
            if not path.exists():
                print(f"error: {key} has no {which} log ({path})", file=sys.stderr)
                code = 1
                continue
            try:
                text = render(path, name, which, options, stamped_by_logger="log" in proxy)
            except LogError as exc:
                sys.stdout.flush()
                print(exc, file=sys.stderr)
                code = 1
                continue
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
    sys.stdout.flush()
    return code


def _chosen(pod: str, proxy: dict[str, Any], own: list[str], container: str | None) -> str:
    """The container `-c` names (`envoy`/`proxy` mean `istio-proxy`; in a pod of one app
    container any other name is the app; in a pod of several, an unknown name is the API
    server's BadRequest), else kubectl's default: the pod's
    `kubectl.kubernetes.io/default-container` (Istio's injector sets it to the first app
    container), else the first container, with kubectl's note when there are several."""
    apps = [c for c in own if c != PROXY_CONTAINER]
    if container in PROXY_CONTAINERS:
        return PROXY_CONTAINER
    if container is not None:
        if container in own or len(apps) <= 1:
            return container if container in own else own[0]
        raise LogError(
            f"Error from server (BadRequest): container {container} is not valid for pod {pod}"
        )
    default = proxy.get("default_container") or (apps[0] if PROXY_CONTAINER in own and apps
                                                 else None)  # fmt: skip
    if default in own:
        return str(default)
    if len(own) > 1:
        print(f'Defaulted container "{own[0]}" out of: {", ".join(own)}', file=sys.stderr)
    return own[0]
