"""`create serviceaccount|role|clusterrole|rolebinding|clusterrolebinding NAME`: kubectl's
imperative RBAC objects, accepted and refused as kubectl accepts and refuses them, stored (or,
while no mesh runs, kept for the next start) and shown by `get`, with kubectl's lines
(`role.rbac.authorization.k8s.io/NAME created`). Local mode has no API server whose requests
they could authorize: nothing enforces them (Istio's own authorization, AuthorizationPolicy,
does not read them either).

The documents are the pure part (`role_document`, `binding_document`): a role's rules grouped by
API group as kubectl groups them (`--resource=pods,deployments.apps` gives one rule for `""` and
one for `apps`), a binding's subjects users first, then groups, then service accounts.
"""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.create import CreateError, _create
from pilotfish.config.kinds import RBAC_API, RBAC_GROUP, is_namespaced, kube_resource, resolve_kind

VERBS = (
    "*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
    "use", "bind", "escalate", "impersonate",
)  # fmt: skip
"""The verbs `kubectl create role` takes (its validation's list)."""


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _resource(text: str) -> tuple[str, str]:
    """(API group, resource[/subresource]) of a `--resource` value: `pods`, `deployments.apps`,
    `pods/log`, `vs` (a kind pilotfish knows is named by its plural, in its group)."""
    name, slash, sub = text.partition("/")
    known = resolve_kind(name) if "." not in name else None
    if known is not None and name != "*":
        from pilotfish.config.kinds import plural

        return known.group, plural(known.kind) + slash + sub
    resource, dot, group = name.partition(".")
    return (group if dot else ""), resource + slash + sub


def role_document(
    kind: str, name: str, namespace: str, verbs: list[str], resources: list[str],
    resource_names: list[str], urls: list[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A `Role` (or `ClusterRole`, whose `urls` are its non-resource URLs). Raises CreateError
    with kubectl's message for what kubectl refuses."""
    verbs, resources = _split(verbs), _split(resources)
    if not verbs:
        raise CreateError("at least one verb must be specified")
    if not resources and not urls:
        raise CreateError("at least one resource must be specified")
    for verb in verbs:
        if verb not in VERBS:
            raise CreateError(f"invalid verb: '{verb}'")
    by_group: dict[str, list[str]] = {}
    for group, resource in map(_resource, resources):
        by_group.setdefault(group, []).append(resource)
    rules: list[dict[str, Any]] = []
    for group, names in by_group.items():
        rule: dict[str, Any] = {"apiGroups": [group], "resources": names, "verbs": verbs}
        if resource_names:
            rule["resourceNames"] = _split(resource_names)
        rules.append(rule)
    if urls:
        rules.append({"nonResourceURLs": _split(urls), "verbs": verbs})
    meta = {"name": name} | ({"namespace": namespace} if kind == "Role" else {})
    return {"apiVersion": RBAC_API, "kind": kind, "metadata": meta, "rules": rules}


def binding_document(
    kind: str, name: str, namespace: str, role: str, cluster_role: str,
    users: list[str], groups: list[str], accounts: list[str],
) -> dict[str, Any]:  # fmt: skip
    """A `RoleBinding` (of a Role or a ClusterRole) or a `ClusterRoleBinding`. Raises
    CreateError with kubectl's message for what kubectl refuses."""
    if kind == "RoleBinding" and bool(role) == bool(cluster_role):
        raise CreateError("exactly one of clusterrole or role must be specified")
    if kind == "ClusterRoleBinding" and not cluster_role:
        raise CreateError('required flag(s) "clusterrole" not set')
    subjects: list[dict[str, Any]] = [
        {"apiGroup": RBAC_GROUP, "kind": subject, "name": who}
        for subject, names in (("User", users), ("Group", groups))
        for who in names
    ]
    for account in accounts:
        ns, colon, account_name = account.partition(":")
        if not colon or not ns or not account_name:
            raise CreateError("serviceaccount must be <namespace>:<name>")
        subjects.append({"kind": "ServiceAccount", "name": account_name, "namespace": ns})
    ref = {"apiGroup": RBAC_GROUP, "kind": "Role" if role else "ClusterRole"}
    meta = {"name": name} | ({"namespace": namespace} if kind == "RoleBinding" else {})
    document: dict[str, Any] = {
        "apiVersion": RBAC_API,
        "kind": kind,
        "metadata": meta,
        "roleRef": ref | {"name": role or cluster_role},
    }
    if subjects:
        document["subjects"] = subjects
    return document


def service_account_document(name: str, namespace: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def create_object_command(build: Any, state_dir: Path, *args: Any) -> int:
    """Build the document (`build(*args)`) and create it: kubectl's refusal for bad flags or an
    object of that name already there, else as `create secret` (`cli.create._create`)."""
    try:
        document: dict[str, Any] = build(*args)
    except CreateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    kind, group = str(document["kind"]), str(document["apiVersion"]).rpartition("/")[0]
    meta = document["metadata"]
    if _exists(state_dir, kind, group, meta):
        taken = f'{kube_resource(group, kind, many=True)} "{meta["name"]}" already exists'
        prefix = "error: failed to create serviceaccount: " if kind == "ServiceAccount" else (
            "Error from server (AlreadyExists): ")  # fmt: skip
        print(prefix + taken, file=sys.stderr)
        return 1
    return _create(document, kube_resource(group, kind, many=True), state_dir)


def _exists(state_dir: Path, kind: str, group: str, meta: dict[str, Any]) -> bool:
    from pilotfish.cli.errors import mesh_call
    from pilotfish.local.client import MeshNotRunning, read_mesh

    try:
        info = read_mesh(state_dir)
    except MeshNotRunning:
        return False
    query = {"kind": kind, "group": group, "name": meta["name"]}
    if is_namespaced(kind):
        query["namespace"] = meta["namespace"]
    path = f"/api/v1/config?{urllib.parse.urlencode(query)}"
    found = bool(mesh_call(info, "GET", path)[1].get("documents"))
    return found or (kind == "ServiceAccount" and meta["name"] == "default")
