"""`pilotfish kube-inject -f FILE|-`: istioctl's manual injection, for local mode.

Local mode starts a pod's sidecar when the workload is applied (`pilotfish.registry.injection`),
so what `kube-inject` prints is the manifest with each pod it injects (a Pod, pilotfish's
Workload, or the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or
CronJob) marked as istioctl's output marks it: the `sidecar.istio.io/status` annotation (whose
pod then has its sidecar in any namespace, `istio-injection=disabled` too, as istioctl's output
carries its container in), `istio.io/rev` and the `kubectl.kubernetes.io/default-container`s,
the injection template's labels (`security.istio.io/tlsMode`, `service.istio.io/canonical-name`
and `-revision`), and labelled `sidecar.istio.io/inject: "true"` (so the analyzers see it in
the mesh). Which pods, as istioctl decides offline from the pod alone (never its
namespace's labels): not one with `hostNetwork`, nor one in kube-system, kube-public,
kube-node-lease or local-path-storage, nor one whose `sidecar.istio.io/inject` (label, else
annotation) is set to anything but `y`, `yes`, `true` or `on`; each skipped pod is left as it is
with istioctl's `===> Skipping injection because ...` line on stderr. Other documents pass
through unchanged; a Workload is given its file's folder (`pilotfish.io/workdir`, which `apply
-f FILE` records) since its `command` is relative to it. Written as istioctl writes it
(`cli.kube_inject_typed`): the kinds it decodes re-serialized, the others copied as they were
written, each document ended by `---`. The manifest goes to stdout (so `apply
-f <(pilotfish kube-inject -f …)` and `| apply -f -` work), a one-line note to stderr.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

from pilotfish.cli.errors import UserError
from pilotfish.cli.inputs import InputError, read_inputs
from pilotfish.cli.kube_inject_typed import is_typed, plain, reserialized
from pilotfish.config.analyzers.kube_objects import SYSTEM_NAMESPACES
from pilotfish.config.yaml_text import yaml_error_place
from pilotfish.registry.service_entries import TLS_MODE_LABEL
from pilotfish.registry.workloads import INJECT_ANNOTATION, STATUS_ANNOTATION, WORKDIR_ANNOTATION

TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
POD_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Workload": (),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
YES_WORDS = frozenset({"y", "yes", "true", "on"})  # the injector's: "" is "not said"
STATUS = json.dumps(  # what the sidecar adds in local mode: its istio-proxy
    {
        "initContainers": None,
        "containers": ["istio-proxy"],
        "volumes": None,
        "imagePullSecrets": None,
        "revision": "default",
    },
    separators=(",", ":"),
)
CANONICAL_NAME = "service.istio.io/canonical-name"
CANONICAL_REVISION = "service.istio.io/canonical-revision"
REV_ANNOTATION = "istio.io/rev"
DEFAULT_CONTAINER_ANNOTATIONS = (
    "kubectl.kubernetes.io/default-logs-container",
    "kubectl.kubernetes.io/default-container",
)
NOTE = (
    "note: local mode injects sidecars when workloads are applied; "
    f'pods are labelled {INJECT_ANNOTATION}: "true"'
)


def pod_parts(doc: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The metadata (created if missing) and spec of the pod a document describes (None: no
    pod)."""
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
    meta, spec = holder["metadata"], holder.get("spec")
    if not isinstance(meta, dict):
        return None
    return meta, spec if isinstance(spec, dict) else {}


def _skipped(doc: dict[str, Any], meta: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """istioctl's line for a pod it does not inject, None when it injects it."""
    if spec.get("hostNetwork") is True:
        reason = "has host networking enabled"
    else:
        labels, notes = meta.get("labels"), meta.get("annotations")
        said = notes.get(INJECT_ANNOTATION) if isinstance(notes, dict) else None
        if isinstance(labels, dict) and INJECT_ANNOTATION in labels:
            said = labels[INJECT_ANNOTATION]  # the label wins over the annotation
        said = "" if said is None else str(said).lower()
        if meta.get("namespace") not in SYSTEM_NAMESPACES and (said in YES_WORDS or not said):
            return None
        reason = "has sidecar injection disabled"
    owner = doc.get("metadata")
    owner = owner if isinstance(owner, dict) else {}
    name = meta.get("name") or owner.get("name") or ""
    full = f"{owner['namespace']}/{name}" if owner.get("namespace") else str(name)
    return f"===> Skipping injection because {doc.get('kind')} {json.dumps(full)} {reason}"


def inject(doc: Any, skipped: list[str]) -> None:
    """Mark the document's pods injected (its List items too); istioctl's line for each pod it
    leaves alone goes to `skipped`."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            inject(item, skipped)
        return
    parts = pod_parts(doc)
    if parts is None:
        return
    meta, spec = parts
    line = _skipped(doc, meta, spec)
    if line is not None:
        skipped.append(line)
        return
    if not isinstance(meta.get("labels"), dict):
        meta["labels"] = {}
    labels = meta["labels"]
    owner = doc.get("metadata") if isinstance(doc, dict) else None
    owner_name = str(owner.get("name") or "") if isinstance(owner, dict) else ""
    for key, value in injected_labels(labels, owner_name).items():
        labels[key] = value
    labels[INJECT_ANNOTATION] = DoubleQuotedScalarString("true")  # as go-yaml writes it
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    notes = meta["annotations"]
    notes[REV_ANNOTATION] = "default"
    containers = spec.get("containers")
    names = [
        str(c.get("name"))
        for c in (containers if isinstance(containers, list) else [])
        if isinstance(c, dict) and c.get("name") not in (None, "istio-proxy")
    ]
    if names:
        for key in DEFAULT_CONTAINER_ANNOTATIONS:
            if key not in notes:
                notes[key] = names[0]
    notes[STATUS_ANNOTATION] = STATUS


def injected_labels(labels: dict[str, Any], deployment: str) -> dict[str, str]:
    """The labels Istio's injection template gives a pod: `security.istio.io/tlsMode` (its
    own, else `istio`) and the canonical service name and revision (their own, else
    `app.kubernetes.io/name`/`app` and `app.kubernetes.io/version`/`version`, else the
    deployment's name and `latest`; the name cut to 63 characters, trimmed of `-_.`)."""

    def first(*keys: str) -> str:
        for key in keys:
            value = labels.get(key)
            if value is not None and str(value) != "":
                return str(value)
        return ""

    name = first(CANONICAL_NAME, "app.kubernetes.io/name", "app") or deployment
    revision = first(CANONICAL_REVISION, "app.kubernetes.io/version", "version") or "latest"
    return {
        TLS_MODE_LABEL: first(TLS_MODE_LABEL) or "istio",
        CANONICAL_NAME: name[:63].strip("-_."),
        CANONICAL_REVISION: revision,
    }


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


def kube_inject(paths: list[str], skipped: list[str] | None = None) -> str:
    """The injected manifest of the files (YAML, documents separated by `---`); istioctl's
    line for each pod left alone is added to `skipped`."""
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
    for source, text in files:
        try:
            list(yaml.load_all(text))  # bad YAML named by its line in the file
        except YAMLError as exc:
            where, problem = yaml_error_place(exc, source)
            raise UserError(f"{where}: invalid YAML: {problem}") from None
        for raw in raw_documents(text):
            doc = yaml.load(raw)
            before = plain(doc)
            inject(doc, [] if skipped is None else skipped)
            _keep_workdir(doc, source)
            if is_typed(doc):
                out.write(reserialized(doc))
            else:  # copied as written, unless marked (pilotfish's Workloads)
                out.write(raw if plain(doc) == before else _round_trip(yaml, doc))
            out.write("---\n")  # istioctl ends every document with one
    return out.getvalue()


def raw_documents(text: str) -> list[str]:
    """The documents of a YAML stream as Kubernetes' YAMLReader cuts them: at each line that
    starts with `---`, empty ones left out; each keeps its own text (comments too)."""
    found: list[str] = []
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("---"):
            if lines:
                found.append("".join(lines))
            lines = []
            continue
        lines.append(line)
    if lines:
        found.append("".join(lines))
    return [d if d.endswith("\n") else d + "\n" for d in found]


def _round_trip(yaml: Any, doc: Any) -> str:
    said = io.StringIO()
    yaml.dump(doc, said)
    return said.getvalue()


def kube_inject_command(paths: list[str]) -> int:
    skipped: list[str] = []
    text = kube_inject(paths, skipped)
    sys.stdout.write(text)
    for line in skipped:
        print(line, file=sys.stderr)
    print(NOTE, file=sys.stderr)
    return 0
