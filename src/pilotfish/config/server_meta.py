"""What the API server writes into an object's `metadata` when it stores a write, as `kubectl get
-o yaml` shows it, and the one precondition a write can carry.

- `creationTimestamp`: the moment of the create (`object_meta.kube_time`), kept by later writes.
- `uid`: a random UUID for the object's life: kept by later writes, a new one after a delete.
- `resourceVersion`: the store's write counter (a decimal string) at the object's last write
  that changed it; a write that changes nothing keeps it (kubectl's `unchanged`).
- `generation`: 1 at the create, +1 on a write that changes anything outside `metadata` and
  `status`, for the kinds whose API server strategy keeps one: every custom resource (Istio's
  and the Gateway API's kinds, the manifest's `Workload`: all served with a status
  subresource), apps' Deployment, StatefulSet, DaemonSet and ReplicaSet, batch's Job and
  CronJob, networking.k8s.io's Ingress and IngressClass, policy's PodDisruptionBudget. Core v1
  kinds (Service, ConfigMap, Secret, ServiceAccount, Namespace) and RBAC's have none.

What a write gives for these is the server's to set and is not taken, but a `resourceVersion`
on a write to an existing object: kubectl's apply sends it when it differs from the live one,
and the API server refuses a stale one (`conflict`); so `get -o yaml | apply -f -` passes,
and the same file applied after another write is refused. On a create kubectl drops it.

Objects shown without being stored (pods, istiod's Service and Deployment, namespaces, the
node, Endpoints, events, the `default` ServiceAccounts, ...) get the same fields when printed
(`as_served`): a `uid` stable for the object (a UUID 5 of its kind, namespace, name and
creation: the same at every `get`, another for an object made anew), `resourceVersion`
`MADE_UP_VERSION` and, where the kind keeps one, `generation` 1.
Pure (but the UUIDs); imports only `pilotfish.config` leaf modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from pilotfish.config.kinds import kube_resource
from pilotfish.config.object_meta import CREATED, doc_key, kube_time

UID = "uid"
RESOURCE_VERSION = "resourceVersion"
GENERATION = "generation"
SERVER_FIELDS = (CREATED, GENERATION, RESOURCE_VERSION, UID)
MADE_UP_VERSION = "1"
"""The `resourceVersion` of an object no write made (`as_served`)."""
STORED_META = ("annotations", RESOURCE_VERSION, UID)
"""What a view made of a stored object (a Deployment of a Workload) carries over from it."""

_BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "discovery.k8s.io",
        "storage.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "certificates.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
    }
)
_BUILTIN_WITH_GENERATION = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("policy", "PodDisruptionBudget"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
)


def tracks_generation(group: str, kind: str) -> bool:
    """Whether the API server keeps `metadata.generation` for objects of this kind."""
    return group not in _BUILTIN_GROUPS or (group, kind) in _BUILTIN_WITH_GENERATION


def latest_version(docs: Iterable[dict[str, Any]]) -> int:
    """The highest `resourceVersion` among stored documents (0 for none): the counter a store
    reloaded from disk goes on from."""
    found = 0
    for doc in docs:
        text = str((doc.get("metadata") or {}).get(RESOURCE_VERSION) or "")
        if text.isdigit():
            found = max(found, int(text))
    return found


def conflict(doc: dict[str, Any], before: dict[str, Any] | None) -> str | None:
    """The API server's refusal of a write giving a `resourceVersion` other than the stored
    object's; None when it gives none, the same one, or creates the object."""
    given = (doc.get("metadata") or {}).get(RESOURCE_VERSION)
    if before is None or given in (None, ""):
        return None
    if str(given) == str((before.get("metadata") or {}).get(RESOURCE_VERSION)):
        return None
    group, kind, _, name = doc_key(doc)
    return (
        f'Operation cannot be fulfilled on {kube_resource(group, kind, many=True)} "{name}": '
        "the object has been modified; please apply your changes to the latest version and "
        "try again"
    )


def _content(doc: dict[str, Any], *, spec_only: bool) -> dict[str, Any]:
    """`doc` without the server's fields (and, `spec_only`, without metadata and status); a
    missing namespace counted as `default` (what `get -o yaml` prints)."""
    if spec_only:
        return {k: v for k, v in doc.items() if k not in ("metadata", "status")}
    meta = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in SERVER_FIELDS}
    if "namespace" not in meta or not meta["namespace"]:
        meta["namespace"] = "default"
    return {**doc, "metadata": meta}


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for the server's fields, counting a missing namespace as `default`."""
    return _content(a, spec_only=False) == _content(b, spec_only=False)


def stamp(doc: dict[str, Any], before: dict[str, Any] | None, now: float, version: int) -> str:
    """Write the server's fields into `doc` (fresh from its request, not stored yet, so the
    objects parsed from it read what the store keeps), `before` the object it replaces; returns
    kubectl's verb: `created`, `configured` (both used `version`) or `unchanged`."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return "created" if before is None else "configured"
    old = (before.get("metadata") or {}) if before is not None else {}
    unchanged = before is not None and same_content(before, doc)
    for key in SERVER_FIELDS:
        meta.pop(key, None)
    meta[CREATED] = old.get(CREATED) or kube_time(now)
    meta[UID] = old.get(UID) or str(uuid.uuid4())
    group, kind, _, _ = doc_key(doc)
    if tracks_generation(group, kind):
        generation = int(old.get(GENERATION) or 0)
        spec_changed = before is None or not _same_spec(before, doc)
        meta[GENERATION] = generation + 1 if spec_changed or not generation else generation
    if unchanged and old.get(RESOURCE_VERSION):
        meta[RESOURCE_VERSION] = old[RESOURCE_VERSION]
        return "unchanged"
    meta[RESOURCE_VERSION] = str(version)
    return "created" if before is None else "unchanged" if unchanged else "configured"


def _same_spec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _content(a, spec_only=True) == _content(b, spec_only=True)


def as_served(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with the server's fields it lacks (an object shown without being stored), as the
    API server would serve it; what it has is kept (a stored object's, a pod's own `uid`)."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or (UID in meta and RESOURCE_VERSION in meta):
        return doc
    group, kind, namespace, name = doc_key(doc)
    added: dict[str, Any] = {
        UID: str(uuid.uuid5(uuid.NAMESPACE_URL, f"pilotfish:{group}/{kind}/{namespace}/{name}/"
                            f"{meta.get(CREATED) or ''}")),
        RESOURCE_VERSION: MADE_UP_VERSION,
    }  # fmt: skip
    if tracks_generation(group, kind):
        added[GENERATION] = 1
    return {**doc, "metadata": {**added, **meta}}
