"""`pilotfish wait --for=condition=Ready pod -l app=NAME`, `pilotfish rollout status
deploy/NAME` and `pilotfish scale deploy/NAME --replicas=N`: kubectl's ways of waiting until pods
run, and of changing how many run, on the local mesh.

The objects are those `get pods|deploy` shows (`kube_get.objects`), read again every 100 ms:
a pod is Ready when each of its containers is (app and istio-proxy, as its readiness probes
say); a Deployment is Available when at least `replicas - maxUnavailable` (25%, rounded down,
Kubernetes' default) of its pods are ready, and rolled out when it has exactly its replicas, all
ready. `--for=delete` waits until the object is gone. `scale` applies the stored Workload or
Deployment with the new `replicas` (so it returns, like `apply`, once the pods run and every
proxy has their endpoints). Messages and exit codes are kubectl's. The Gateway API's objects (`wait
--for=condition=programmed gtw NAME`, Istio's Getting Started) are waited on through the
conditions Istio's controller writes (`config.gateway_api.status`; compared without case).
"""

from __future__ import annotations

import re
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli import kube_get
from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.cli.selectors import Selector
from pilotfish.config.kinds import GATEWAY_API_GROUP, KindName, plural, resolve_kind

POLL = 0.1
ISTIO_GROUP = "istio.io"  # networking.istio.io, security.istio.io, ...
POD_CONDITIONS = {
    "ready", "containersready", "initialized", "podscheduled", "podreadytostartcontainers"
}  # fmt: skip
DEPLOY_CONDITIONS = {"available", "progressing"}


def parse_duration(text: str) -> float:
    """kubectl's `--timeout`: `30s`, `5m`, `1h`, `1m30s`, or plain seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f'invalid argument "{text}" for "--timeout" flag: expected e.g. 30s, 5m')
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def _targets(args: list[str]) -> tuple[str, list[str]]:
    """`pod/a pod/b`, `pods a b` or `deployment` (with -l/--all): (kind, names)."""
    if not args:
        raise UserError("you must specify the type of resource to wait on (pod, deployment)")
    if "/" in args[0]:
        kinds = {a.split("/", 1)[0] for a in args}
        if len(kinds) > 1 or any("/" not in a for a in args):
            raise UserError("there is no need to specify a resource type as a separate argument")
        return kinds.pop().lower(), [a.split("/", 1)[1] for a in args]
    return args[0].lower(), args[1:]


def _family(kind: str) -> str:
    if kind in kube_get.POD_KINDS:
        return "pod"
    if kind in kube_get.DEPLOY_KINDS:
        return "deploy"
    raise UserError(
        f'wait: resource type "{kind}" is not waited on in local mode (pod, deployment)'
    )


def _condition_met(family: str, obj: dict[str, Any], condition: str) -> bool:
    status = obj.get("status") or {}
    if family == "pod":
        return _has_condition(obj, condition)  # the conditions `kube_pods` gives a pod
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    if condition == "progressing":
        return True  # a local Deployment is never stuck: its pods start or it fails at apply
    return int(status.get("availableReplicas") or 0) >= replicas - replicas // 4


def _select(
    objects: list[dict[str, Any]], names: list[str], namespace: str, labels: Selector
) -> list[dict[str, Any]]:
    from pilotfish.cli.get import has_labels

    return [
        o
        for o in objects
        if o["metadata"].get("namespace") == namespace
        and (not names or o["metadata"]["name"] in names)
        and has_labels(o, labels)
    ]


def wait_command(
    args: list[str],
    wanted: str,
    namespace: str | None,
    labels: Selector,
    every: bool,
    timeout: float,
    state_dir: Path,
) -> int:
    """`--for=condition=C` or `--for=delete`; prints `pod/NAME condition met` per object."""
    kind, names = _targets(args)
    resolved = resolve_kind(kind)
    if resolved is not None and (
        resolved.group == GATEWAY_API_GROUP or resolved.group.endswith(ISTIO_GROUP)
    ):
        return wait_config(resolved, names, wanted, namespace, every, timeout, state_dir)
    family = _family(kind)
    deleting = wanted == "delete"
    condition = wanted.partition("=")[2].lower() if wanted.startswith("condition=") else ""
    if not deleting and not condition:
        raise UserError(f'unrecognized condition: "{wanted}" (condition=Ready, delete)')
    known = POD_CONDITIONS if family == "pod" else DEPLOY_CONDITIONS
    if condition and condition not in known:
        raise UserError(f'condition "{condition}" is not one a local {family} reports: {known}')
    if not names and not labels and not every:
        raise UserError("resource(s) were provided, but no name was specified (-l, --all)")
    ns = namespace or "default"
    noun = "pod" if family == "pod" else "deployment.apps"
    found = _select(kube_get.objects(family, running_mesh(state_dir)), names, ns, labels)
    missing = [n for n in names if n not in {o["metadata"]["name"] for o in found}]
    if missing and not deleting:
        plural = "pods" if family == "pod" else "deployments.apps"
        print(f'Error from server (NotFound): {plural} "{missing[0]}" not found', file=sys.stderr)
        return 1
    if not found and not deleting:
        print("error: no matching resources found", file=sys.stderr)
        return 1
    pending = (
        {o["metadata"]["name"] for o in found}
        if not deleting
        else set(names) or {o["metadata"]["name"] for o in found}
    )
    deadline = time.monotonic() + timeout
    while True:
        current = {
            o["metadata"]["name"]: o
            for o in _select(kube_get.objects(family, running_mesh(state_dir)), [], ns, Selector())
        }
        for name in sorted(pending):
            obj = current.get(name)
            done = (
                obj is None
                if deleting
                else obj is not None and _condition_met(family, obj, condition)
            )
            if done:
                print(f"{noun}/{name} condition met", flush=True)
                pending.discard(name)
        if not pending:
            return 0
        if time.monotonic() >= deadline:
            plural = "pods" if family == "pod" else "deployments.apps"
            name = sorted(pending)[0]
            print(f"error: timed out waiting for the condition on {plural}/{name}", file=sys.stderr)
            return 1
        time.sleep(POLL)


def _config_objects(kind: KindName, namespace: str, state_dir: Path) -> dict[str, dict[str, Any]]:
    query = {"kind": kind.kind, "group": kind.group}
    if kind.namespaced:
        query["namespace"] = namespace
    status, body = mesh_call(
        running_mesh(state_dir), "GET", "/api/v1/config?" + urllib.parse.urlencode(query)
    )
    docs = body.get("documents", []) if status == 200 else []
    return {str((d.get("metadata") or {}).get("name")): d for d in docs}


def _synced(state_dir: Path) -> bool:
    """Every connected proxy has ACKed its latest config (Istio's Reconciled)."""
    from pilotfish.cli.rollout import unsynced_proxies

    status, syncz = mesh_call(running_mesh(state_dir), "GET", "/debug/syncz")
    return status == 200 and not unsynced_proxies(syncz)


def _has_condition(doc: dict[str, Any], condition: str) -> bool:
    """Whether `doc`'s `status.conditions` has `condition` (lower case) with status True."""
    return any(
        str(c.get("type", "")).lower() == condition and c.get("status") == "True"
        for c in (doc.get("status") or {}).get("conditions") or []
    )


def wait_config(
    kind: KindName,
    names: list[str],
    wanted: str,
    namespace: str | None,
    every: bool,
    timeout: float,
    state_dir: Path,
) -> int:
    """A Gateway API object's `status.conditions` (`Programmed`, `Accepted`), or an Istio
    object's `Reconciled`, as Istio reports it with status enabled (Istio's "Wait on Resource
    Status" page): the object is there and every connected proxy has ACKed its latest config."""
    deleting = wanted == "delete"
    condition = wanted.partition("=")[2].lower() if wanted.startswith("condition=") else ""
    if not deleting and not condition:
        raise UserError(f'unrecognized condition: "{wanted}" (condition=Programmed, delete)')
    ns = namespace or "default"
    reconciled = condition == "reconciled" and kind.group.endswith(ISTIO_GROUP)
    resource = f"{plural(kind.kind)}.{kind.group}"
    noun = f"{kind.kind.lower()}.{kind.group}"
    found = _config_objects(kind, ns, state_dir)
    if not names and every:
        names = sorted(found)
    if not names:
        raise UserError("resource(s) were provided, but no name was specified (--all)")
    missing = [n for n in names if n not in found]
    if missing and not deleting:
        print(f'Error from server (NotFound): {resource} "{missing[0]}" not found', file=sys.stderr)
        return 1
    pending = set(names)
    deadline = time.monotonic() + timeout
    while True:
        for name in sorted(pending):
            doc = found.get(name)
            met = doc is not None and (
                _synced(state_dir) if reconciled else _has_condition(doc, condition)
            )
            if (doc is None) if deleting else met:
                print(f"{noun}/{name} condition met", flush=True)
                pending.discard(name)
        if not pending:
            return 0
        if time.monotonic() >= deadline:
            name = sorted(pending)[0]
            print(
                f"error: timed out waiting for the condition on {resource}/{name}", file=sys.stderr
            )
            return 1
        time.sleep(POLL)
        found = _config_objects(kind, ns, state_dir)


def rollout_status_command(
    target: str, namespace: str | None, timeout: float, watch: bool, state_dir: Path
) -> int:
    """`rollout status deployment/NAME`: kubectl's progress lines until every replica is ready."""
    kind, _, name = target.partition("/")
    if not name or kind.lower() not in kube_get.DEPLOY_KINDS:
        raise UserError(f'rollout status: expected deployment/NAME, got "{target}"')
    ns = namespace or "default"
    deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
    said = ""
    while True:
        found = _select(kube_get.objects("deploy", running_mesh(state_dir)), [name], ns, Selector())
        if not found:
            print(
                f'Error from server (NotFound): deployments.apps "{name}" not found',
                file=sys.stderr,
            )
            return 1
        status, replicas = found[0]["status"], int(found[0]["spec"].get("replicas", 1))
        have, ready = int(status.get("replicas") or 0), int(status.get("readyReplicas") or 0)
        if have == replicas and ready == replicas:
            print(f'deployment "{name}" successfully rolled out')
            return 0
        if have > replicas:
            line = f"{have - replicas} old replicas are pending termination..."
        else:
            line = f"{ready} of {replicas} updated replicas are available..."
        line = f'Waiting for deployment "{name}" rollout to finish: {line}'
        if line != said:
            print(line, flush=True)
            said = line
        if not watch:
            return 0
        if time.monotonic() >= deadline:
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        time.sleep(POLL)


def scale_command(
    target: list[str], replicas: int, namespace: str | None, state_dir: Path, timeout: float
) -> int:
    """`scale deploy/NAME --replicas=N` (or `scale deployment NAME …`)."""
    from pilotfish.cli.apply import apply_files
    from pilotfish.config.yaml_text import dump_yaml

    kind, names = _targets(target)
    if _family(kind) != "deploy" or len(names) != 1:
        raise UserError("scale: expected deployment/NAME (local mode scales deployments)")
    if replicas < 0:
        raise UserError(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0"
        )
    ns = namespace or "default"
    doc = stored_deployment(running_mesh(state_dir), ns, names[0])
    if doc is None:
        return 1
    doc.setdefault("spec", {})["replicas"] = replicas
    code = apply_files([(f"<scale {names[0]}>", dump_yaml([doc]))], state_dir, True, timeout, ns)
    if code == 0:
        print(f"deployment.apps/{names[0]} scaled")
    return code


def stored_deployment(
    info: dict[str, Any], namespace: str, name: str, report: bool = True
) -> dict[str, Any] | None:
    """The stored Deployment (or Workload) of that name, ready to be applied back changed; None
    (after kubectl's NotFound, with `report`)."""
    from pilotfish.cli.errors import mesh_call

    found = []
    for stored in ("Workload", "Deployment"):
        query = urllib.parse.urlencode({"kind": stored, "namespace": namespace, "name": name})
        found += mesh_call(info, "GET", f"/api/v1/config?{query}")[1].get("documents", [])
    if not found:
        if report:
            print(f'Error from server (NotFound): deployments.apps "{name}" not found',
                  file=sys.stderr)  # fmt: skip
        return None
    doc: dict[str, Any] = found[0]
    for key in ("creationTimestamp", "resourceVersion", "generation", "uid"):
        (doc.get("metadata") or {}).pop(key, None)
    return doc
