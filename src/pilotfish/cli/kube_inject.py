"""`pilotfish kube-inject -f FILE|-`: istioctl's manual injection, for local mode.

Local mode injects when a workload is applied (`pilotfish.registry.injection`), so what
`kube-inject` prints is the manifest with each pod (a Pod, pilotfish's Workload, or the pod
template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob) labelled
`sidecar.istio.io/inject: "true"`: applied to a namespace without an injection label, its pods
get sidecars, as istioctl's output does (one labelled `istio-injection=disabled` still refuses
them, where istioctl's output would carry its sidecar in). A pod that opts out
(`sidecar.istio.io/inject: "false"`) is left as it is, as istioctl leaves it. Other documents
pass through unchanged; a Workload is given its file's folder (`pilotfish.io/workdir`, which
`apply -f FILE` records) since its `command` is relative to it. The manifest goes to stdout
(so `apply -f <(pilotfish kube-inject -f …)` and `| apply -f -` work), a one-line note to
stderr.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from pilotfish.cli.errors import UserError
from pilotfish.cli.inputs import InputError, read_inputs
from pilotfish.registry.injection import TRUE_WORDS
from pilotfish.registry.workloads import INJECT_ANNOTATION, WORKDIR_ANNOTATION

TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
POD_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Workload": (),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
NOTE = (
    "note: local mode injects sidecars when workloads are applied; "
    f'pods are labelled {INJECT_ANNOTATION}: "true"'
)


def pod_metadata(doc: Any) -> dict[str, Any] | None:
    """The metadata of the pod a document describes, created if missing (None: no pod)."""
    if not isinstance(doc, dict):
        return None
    kind = str(doc.get("kind"))
    path = POD_PATHS.get(kind, ("spec", "template") if kind in TEMPLATE_KINDS else None)
    if path is None:
        return None
    holder: Any = doc
    for key in path:
        holder = holder.get(key) if isinstance(holder, dict) else None
    if not isinstance(holder, dict):
        return None
    if holder.get("metadata") is None:
        holder["metadata"] = {}
    meta = holder["metadata"]
    return meta if isinstance(meta, dict) else None


def inject(doc: Any) -> None:
    """Label the document's pods for injection (its List items too)."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            inject(item)
        return
    meta = pod_metadata(doc)
    if meta is None:
        return
    labels, notes = meta.get("labels"), meta.get("annotations")
    said = labels.get(INJECT_ANNOTATION) if isinstance(labels, dict) else None
    if said is None and isinstance(notes, dict):
        said = notes.get(INJECT_ANNOTATION)
    if said is not None and str(said).lower() not in TRUE_WORDS:
        return  # the pod opts out: istioctl leaves it alone
    if not isinstance(labels, dict):
        labels = meta["labels"] = {}
    labels[INJECT_ANNOTATION] = "true"


def _keep_workdir(doc: Any, source: str) -> None:
    """A Workload's `command` is relative to its file's folder: say which, since the printed
    manifest is applied from a pipe (as `apply -f FILE` records it)."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            _keep_workdir(item, source)
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or doc.get("kind") != "Workload" or source.startswith("<"):
        return
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    if isinstance(meta["annotations"], dict):
        folder = os.path.dirname(os.path.realpath(source))
        meta["annotations"].setdefault(WORKDIR_ANNOTATION, folder)


def kube_inject(paths: list[str]) -> str:
    """The injected manifest of the files (YAML, documents separated by `---`)."""
    from ruamel.yaml import YAML, YAMLError

    if not paths:
        raise UserError("kube-inject: give the manifest with -f FILE (or -f - for stdin)")
    try:
        files = read_inputs(paths)
    except InputError as exc:
        raise UserError(str(exc)) from None
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    out = io.StringIO()
    docs: list[Any] = []
    for source, text in files:
        try:
            found = [d for d in yaml.load_all(text) if d is not None]
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise UserError(f"{source}{line}: invalid YAML: {problem}") from None
        for doc in found:
            inject(doc)
            _keep_workdir(doc, source)
        docs.extend(found)
    yaml.dump_all(docs, out)
    return out.getvalue()


def kube_inject_command(paths: list[str]) -> int:
    text = kube_inject(paths)
    sys.stdout.write(text)
    print(NOTE, file=sys.stderr)
    return 0
