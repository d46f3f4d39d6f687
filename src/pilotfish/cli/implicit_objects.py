"""Which objects exist in the mesh without being stored: those a cluster running Istio holds
without anyone applying them, which `get` shows (`kube_namespaces`, `kube_builtins`), and what
kubectl then says of a write to one.

- every namespace `get ns` lists (`default`, `istio-system`, those holding config or pods);
- each namespace's `default` ServiceAccount and `istio-ca-root-cert` ConfigMap, and the `istio`
  mesh ConfigMap in istio-system.

`create` refuses them (`AlreadyExists`), as kubectl does. `apply` of one (`kubectl get ns
default -o yaml | kubectl apply -f -`) stores it, and kubectl says `configured`, not `created`,
after its warning that the object lacks the last-applied annotation (the API server made it,
not an apply); a second apply of the same object is `unchanged` (the store has it then).
kubectl's apply of an object that exists merges into it: it removes only what its last-applied
annotation held, and these have none, so the live object's labels the applied one leaves out
stay. A namespace's live labels are local mode's implicit `istio-injection=enabled`
(`registry.injection.IMPLICIT_LABELS`): an applied `Namespace default` without it keeps it
(`with_live_labels`), so Bookinfo's sidecars keep coming.
"""

from __future__ import annotations

import io
import sys
import urllib.parse
from typing import Any

from pilotfish.cli.errors import mesh_call
from pilotfish.config.kinds import is_namespaced, kube_resource

KINDS = ("Namespace", "ServiceAccount", "ConfigMap")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
WARNING = (
    "Warning: resource {resource} is missing the {annotation} annotation which is required by "
    "kubectl apply. kubectl apply should only be used on resources created declaratively by "
    "either kubectl create --save-config or kubectl apply. The missing annotation will be "
    "patched automatically."
)
"""kubectl's apply warning (`warningNoLastAppliedConfigAnnotation`, base name `kubectl`)."""


def always_there(kind: str, namespace: str, name: str) -> bool:
    """The objects every namespace holds (`kube_builtins`): the `istio` mesh ConfigMap in
    istio-system, each namespace's root-cert ConfigMap and `default` ServiceAccount."""
    from pilotfish.cli.kube_builtins import ROOT_CERT_CONFIGMAP, SERVICE_ACCOUNT
    from pilotfish.cli.kube_pods import ISTIO_SYSTEM

    if kind == "ConfigMap":
        return name == ROOT_CERT_CONFIGMAP or (namespace, name) == (ISTIO_SYSTEM, "istio")
    return kind == "ServiceAccount" and name == SERVICE_ACCOUNT


def listed_namespaces(info: dict[str, Any]) -> set[str]:
    """The namespaces `get ns` lists."""
    from pilotfish.cli.kube_get import objects

    return {str(n["metadata"]["name"]) for n in objects("ns", info)}


def is_stored(info: dict[str, Any], group: str, kind: str, namespace: str, name: str) -> bool:
    query = {"kind": kind, "name": name, "group": group}
    query |= {"namespace": namespace} if is_namespaced(kind) else {}
    path = f"/api/v1/config?{urllib.parse.urlencode(query)}"
    return bool(mesh_call(info, "GET", path)[1].get("documents"))


def implicit_changes(
    docs: list[dict[str, Any]], namespace: str | None, info: dict[str, Any]
) -> set[str]:
    """The change lines' objects (`namespace/default`, as the store names them) among `docs`
    that exist without being stored: their apply is kubectl's `configured`."""
    found: set[str] = set()
    namespaces: set[str] | None = None
    for doc in docs:
        kind, meta = str(doc.get("kind")), doc.get("metadata")
        if kind not in KINDS or not isinstance(meta, dict) or not meta.get("name"):
            continue
        name = str(meta["name"])
        ns = str(meta.get("namespace") or namespace or "default") if kind != "Namespace" else ""
        group = str(doc.get("apiVersion", "")).rpartition("/")[0]
        if kind == "Namespace":
            namespaces = listed_namespaces(info) if namespaces is None else namespaces
            there = name in namespaces
        else:
            there = always_there(kind, ns, name)
        if there and not is_stored(info, group, kind, ns, name):
            found.add(f"{kube_resource(group, kind)}/{name}")
    return found


def with_live_labels(files: list[tuple[str, str]], implicit: set[str]) -> list[tuple[str, str]]:
    """`files` with the implicit namespaces among `implicit` (change names) given the implicit
    labels they leave out, as kubectl's merge keeps the live object's; a file with none of them
    is sent as it is."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from pilotfish.registry.injection import IMPLICIT_LABELS

    names = {c.partition("/")[2] for c in implicit if c.startswith("namespace/")}
    found = []
    for source, text in files:
        yaml = YAML(typ="rt")
        try:
            docs = list(yaml.load_all(text)) if "Namespace" in text else []
        except YAMLError:  # read already by the loader; sent as it is if this reader balks
            docs = []
        changed = False
        for doc in [d for top in docs for d in _items(top)]:
            meta = doc.get("metadata")
            if doc.get("kind") != "Namespace" or not isinstance(meta, dict):
                continue
            labels = meta.get("labels") or {}
            missing = {k: v for k, v in IMPLICIT_LABELS.items() if k not in labels}
            if meta.get("name") in names and missing and isinstance(labels, dict):
                labels.update(missing)
                meta["labels"] = labels
                changed = True
        if changed:
            out = io.StringIO()
            yaml.dump_all(docs, out)
            text = out.getvalue()
        found.append((source, text))
    return found


def _items(doc: Any) -> list[Any]:
    """A document, or a List's items (`kubectl get ns -o yaml` prints a List)."""
    if not isinstance(doc, dict):
        return []
    items = doc.get("items") if doc.get("kind") == "List" else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else [doc]


def said_of(line: str, implicit: set[str]) -> str:
    """A change line as kubectl says it: `created` of an object that existed implicitly is
    `configured`, after kubectl's warning (on stderr)."""
    changed, _, verb = line.rpartition(" ")
    if verb != "created" or changed not in implicit:
        return line
    kind, _, name = changed.partition("/")
    group = kind.partition(".")[2]
    resource = kube_resource(group, _kind_of(kind.partition(".")[0]), many=True)
    print(WARNING.format(resource=f"{resource}/{name}", annotation=LAST_APPLIED), file=sys.stderr)
    return f"{changed} configured"


def _kind_of(lowered: str) -> str:
    return next(k for k in KINDS if k.lower() == lowered)
