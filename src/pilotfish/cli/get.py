"""`pilotfish get KIND [NAME…]` of config kinds: the objects the running mesh holds, as a
`get_output.Section` with kubectl's table (Istio's CRD printer columns, AGE)."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from typing import Any

from pilotfish.cli.errors import mesh_call
from pilotfish.cli.get_output import Section
from pilotfish.cli.kube_builtins import always_there
from pilotfish.cli.kube_views import age_of, gateway_api_columns, ingress_columns
from pilotfish.cli.selectors import Selector
from pilotfish.config.kinds import (
    GATEWAY_API_GROUP,
    INGRESS_GROUP,
    is_namespaced,
    plural,
    resolve_kind,
)


def config_section(
    kind: str,
    names: list[str],
    namespace: str | None,
    info: dict[str, Any],
    labels: Selector | None = None,
) -> Section | None:
    """One config kind's objects for kubectl's `get` (`namespace` None: every namespace, -A),
    in kubectl's order (namespace, then name), or that of the `names` given; None after
    kubectl's error for a type the server does not have."""
    resolved = resolve_kind(kind)
    if resolved is None:
        print(f'error: the server doesn\'t have a resource type "{kind}"', file=sys.stderr)
        return None
    namespaced = is_namespaced(resolved.kind)
    namespace = namespace if namespaced else None
    query = {"kind": resolved.kind}
    if resolved.group:
        query["group"] = resolved.group  # `get gw` is Istio's Gateway, `get gtw` the other
    if namespace:
        query["namespace"] = namespace
    if len(names) == 1:
        query["name"] = names[0]
    status, body = mesh_call(info, "GET", "/api/v1/config?" + urllib.parse.urlencode(query))
    docs: list[dict[str, Any]] = body.get("documents", []) if status == 200 else []
    if resolved.kind in ("ServiceAccount", "ConfigMap"):  # what every namespace holds
        docs += always_there(resolved.kind, docs, names, namespace, info)
    docs = [d for d in docs if has_labels(d, labels or Selector())]
    if namespaced:  # as kubectl prints them: the namespace always shown
        for doc in docs:
            meta = doc.setdefault("metadata", {})
            meta["namespace"] = meta.get("namespace") or "default"
    docs.sort(key=lambda d: (d["metadata"].get("namespace", ""), str(d["metadata"].get("name"))))
    docs, missing = named(docs, names)
    dotted = f".{resolved.group}" if resolved.group else ""
    every = namespaced and namespace is None

    def table(found: list[dict[str, Any]], prefix: str) -> str:
        return _table(resolved.kind, found, every, resolved.group, prefix)

    return Section(
        f"{resolved.kind.lower()}{dotted}", plural(resolved.kind) + dotted, docs, table,
        missing, namespaced,
    )  # fmt: skip


def named(found: list[dict[str, Any]], names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """kubectl's `get KIND A B …`: the objects of each name in the order the names were given
    (all of them when none was), and the names no object carries."""
    if not names:
        return found, []
    picked: list[dict[str, Any]] = []
    missing: list[str] = []
    for name in names:
        hits = [o for o in found if (o.get("metadata") or {}).get("name") == name]
        picked += hits
        missing += [] if hits else [name]
    return picked, missing


def has_labels(doc: dict[str, Any], labels: Selector) -> bool:
    """Whether an object's labels meet every requirement of `-l`."""
    return labels.matches((doc.get("metadata") or {}).get("labels") or {})


def _table(
    kind: str, docs: list[dict[str, Any]], every_namespace: bool, group: str = "", prefix: str = ""
) -> str:
    """kubectl's table: NAMESPACE only with -A, then NAME and the kind's columns (those of
    Istio's CRDs, AGE where they put it; kubectl's for v1 kinds; NAME and AGE otherwise)."""
    now = time.time()
    head = ["NAMESPACE"] if every_namespace else []
    columns = (
        gateway_api_columns
        if group == GATEWAY_API_GROUP
        else ingress_columns
        if group == INGRESS_GROUP
        else _columns
    )
    rows = [[*head, "NAME", *(h for h, _ in columns(kind, {}, now))]]
    for doc in docs:
        meta = doc.get("metadata") or {}
        first = [str(meta.get("namespace") or "default")] if every_namespace else []
        name = prefix + str(meta.get("name"))
        rows.append([*first, name, *(v for _, v in columns(kind, doc, now))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _columns(kind: str, doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
    """(header, value) after NAME: the additionalPrinterColumns of Istio's CRDs (a CRD without
    them shows AGE alone), kubectl's for v1 kinds; AGE from `metadata.creationTimestamp`."""
    spec = doc.get("spec") or {}

    def text(value: Any) -> str:
        return "" if value is None else json.dumps(value) if isinstance(value, list) else str(value)

    age = ("AGE", age_of(doc.get("metadata") or {}, now))
    columns: dict[str, list[tuple[str, Any]]] = {
        "VirtualService": [("GATEWAYS", spec.get("gateways")), ("HOSTS", spec.get("hosts")), age],
        "DestinationRule": [("HOST", spec.get("host")), age],
        "ServiceEntry": [
            ("HOSTS", spec.get("hosts")),
            ("LOCATION", spec.get("location")),
            ("RESOLUTION", spec.get("resolution")),
            age,
        ],
        "PeerAuthentication": [("MODE", (spec.get("mtls") or {}).get("mode")), age],
        "AuthorizationPolicy": [("ACTION", spec.get("action")), age],
        "WorkloadEntry": [age, ("ADDRESS", spec.get("address"))],
        "Secret": [
            ("TYPE", doc.get("type", "Opaque")),
            ("DATA", len({**(doc.get("data") or {}), **(doc.get("stringData") or {})})),
            age,
        ],
        "ConfigMap": [("DATA", len(doc.get("data") or {})), age],
        "ServiceAccount": [("SECRETS", len(doc.get("secrets") or [])), age],
        "Role": [("CREATED AT", (doc.get("metadata") or {}).get("creationTimestamp"))],
        "ClusterRole": [("CREATED AT", (doc.get("metadata") or {}).get("creationTimestamp"))],
        "RoleBinding": [("ROLE", _role_ref(doc)), age],
        "ClusterRoleBinding": [("ROLE", _role_ref(doc)), age],
    }
    return [(h, text(v)) for h, v in columns.get(kind, [age])]


def _role_ref(binding: dict[str, Any]) -> str:
    """kubectl's ROLE column of a (Cluster)RoleBinding: `Role/NAME` or `ClusterRole/NAME`."""
    ref = binding.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"
