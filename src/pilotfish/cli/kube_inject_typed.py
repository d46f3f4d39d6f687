"""How `istioctl kube-inject` writes the documents it decodes (`pkg/kube/inject`'s
`IntoResourceFile`): only the kinds its scheme knows (v1 Pod, ReplicationController and List,
apps/v1 Deployment, DaemonSet, ReplicaSet and StatefulSet, batch/v1 Job and CronJob) are decoded
into Kubernetes' Go types and written back with sigs.k8s.io/yaml: keys sorted as go-yaml sorts
them, comments and the input's layout gone, and the fields those types always write, empty
(`creationTimestamp: null` in each object's and pod template's metadata, `resources: {}` in each
container, `strategy: {}` of a Deployment, `status: {}` or the status counters its type writes).
Any other document (a Service, Istio's and pilotfish's own kinds) is copied as it was written.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

from pilotfish.config.go_yaml import dump_go_yaml

TYPED = {
    ("v1", "Pod"),
    ("v1", "ReplicationController"),
    ("v1", "List"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
}
"""The kinds istioctl's inject scheme decodes (OpenShift's DeploymentConfig aside)."""
STATUS: dict[str, dict[str, Any]] = {
    "ReplicationController": {"replicas": 0},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"availableReplicas": 0, "replicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
}
"""The status fields a kind's Go type writes when empty (no `omitempty`); others: `{}`."""
TEMPLATE_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Pod": ((),),
    "CronJob": (("spec", "jobTemplate"), ("spec", "jobTemplate", "spec", "template")),
}
STRATEGY = {
    "Deployment": "strategy",
    "StatefulSet": "updateStrategy",
    "DaemonSet": "updateStrategy",
}


def is_typed(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("apiVersion"), doc.get("kind")) in TYPED


def plain(value: Any) -> Any:
    """ruamel's round-trip nodes as plain dicts, lists and scalars (comments dropped)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, ScalarBoolean):  # an anchored boolean: an int subclass
        return bool(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # ScalarInt (`0`, `0x1F`, `1_000`), ScalarFloat below
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def with_type_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (plain) with the empty fields its Go type writes."""
    kind = str(doc.get("kind"))
    if kind == "List":
        doc.setdefault("metadata", {})  # its ListMeta, written when empty
        items = doc.get("items")
        if isinstance(items, list):
            doc["items"] = [with_type_fields(i) if is_typed(i) else i for i in items]
        return doc
    _meta(doc)
    paths = TEMPLATE_PATHS.get(kind, (("spec", "template"),))
    for path in paths:
        holder = _at(doc, path)
        if holder is None:
            continue
        _meta(holder)
        spec = holder.get("spec")
        if path == paths[-1] and isinstance(spec, dict):
            for key in ("initContainers", "containers"):
                for container in spec.get(key) or []:
                    if isinstance(container, dict):
                        container.setdefault("resources", {})
    spec = doc.get("spec")
    if kind in STRATEGY and isinstance(spec, dict):
        spec.setdefault(STRATEGY[kind], {})
    doc.setdefault("status", dict(STATUS.get(kind, {})))
    return doc


def _at(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    holder: Any = doc
    for key in path:
        holder = holder.get(key) if isinstance(holder, dict) else None
    return holder if isinstance(holder, dict) else None


def _meta(holder: dict[str, Any]) -> None:
    meta = holder.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("creationTimestamp", None)


def reserialized(doc: Any) -> str:
    """A document of a kind istioctl decodes, as istioctl writes it back."""
    return dump_go_yaml(with_type_fields(plain(doc)))
