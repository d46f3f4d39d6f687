"""`pilotfish x check-inject [-n NS] [deployment/NAME|POD[.NS]] [-l k=v,…]` (istioctl's `x
check-inject`, Istio's "Sidecar injection problems" page): why a pod is, or would be, injected,
as istioctl's WEBHOOK / REVISION / INJECTED / REASON table. The decision is the mesh's own
(`registry.injection.pod_injection`, what `apply` decides for a pod), from the pod's labels and
annotations as applied (its Deployment's template, its Pod or Workload) and its namespace's
labels as they are now (`label namespace`), as istioctl reads the webhooks against the pod and
namespace of now; when the running pod was decided otherwise (applied before a label changed),
a note on stderr says so and how to have it decided again. With `-l` and no pod: pods with
those labels, before any is applied.
Local mode has one injector, Istio's default one: `istio-sidecar-injector`, revision `default`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.cli.kube_pods import has_proxy
from pilotfish.cli.pods import PodNotFound, resolve_pod
from pilotfish.cli.selectors import parse_selector
from pilotfish.registry.injection import InjectionDecision, namespace_labels, pod_injection
from pilotfish.registry.inputs import StoredDocument
from pilotfish.registry.kube_workloads import pod_parts

WEBHOOK = "istio-sidecar-injector"
REVISION = "default"
POD_KINDS = ("Deployment", "Pod", "Workload")


def render(decision: InjectionDecision) -> str:
    rows = [["WEBHOOK", "REVISION", "INJECTED", "REASON"]]
    rows.append([WEBHOOK, REVISION, "✔" if decision.injected else "✘", decision.reason])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return "\n".join(lines) + "\n"


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _pod_meta(documents: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """The pod's metadata as applied: its Deployment's template, or its Pod or Workload."""
    namespace = str(row.get("namespace") or "default")
    for doc in documents:
        meta = doc.get("metadata") or {}
        if (
            doc.get("kind") in POD_KINDS
            and meta.get("name") == row.get("workload")
            and (meta.get("namespace") or "default") == namespace
        ):
            return pod_parts(StoredDocument(doc))[1]
    raise UserError(f"no workload {row.get('workload')} in namespace {namespace}")


def check_inject_command(
    target: str | None, labels: str | None, namespace: str | None, state_dir: Path
) -> int:
    if (target is None) == (labels is None):
        raise UserError(
            "check-inject requires only [<resource-type>/]<resource-name>[.<namespace>], "
            "or specify labels flag"
        )
    info = running_mesh(state_dir)
    status, body = mesh_call(info, "GET", "/api/v1/manifest")
    if status != 200:
        raise UserError(f"the control plane answered {status}")
    documents: list[dict[str, Any]] = list(body.get("documents") or [])
    row: dict[str, Any] = {}
    if target is not None:
        try:
            _, row = resolve_pod(info, target, namespace)
        except PodNotFound as exc:
            raise UserError(str(exc)) from None
        pod_meta = _pod_meta(documents, row)
        ns = str(row.get("namespace") or "default")
    else:
        selector = parse_selector(str(labels))
        if selector is None:
            raise UserError(f"-l {labels!r}: expected key=value[,key=value]")
        equal = {k: v[0] for k, op, v in selector.requirements if op in ("=", "==") and v}
        pod_meta = {"labels": equal, "annotations": {}}  # istioctl: the selector's matchLabels
        ns = namespace or "default"
    decision = pod_injection(
        _strings(pod_meta.get("labels")),
        _strings(pod_meta.get("annotations")),
        namespace_labels(documents).get(ns),
    )
    sys.stdout.write(render(decision))
    if row and has_proxy(row) != decision.injected:  # decided when applied
        state = "without" if decision.injected else "with"
        print(
            f"note: {row.get('instance')} in {ns} runs {state} a sidecar, as decided when it was "
            f"applied: `pilotfish rollout restart deployment/{row.get('workload')} -n {ns}` "
            "decides again",
            file=sys.stderr,
        )
    return 0
