"""What `kubectl get namespaces|endpoints` shows, for the local mesh (pure: the objects
`kube_views` builds and the stored config in, Kubernetes-shaped objects out).

A namespace exists when it holds config or pods, when a `Namespace` document names it (`create
namespace`, `label namespace` write one), and always `default` and `istio-system`. One without a
`Namespace` document shows local mode's implicit `istio-injection=enabled`
(`registry.injection.IMPLICIT_LABELS`), as it behaves: `get ns -L istio-injection` says so,
and `get ns default -o yaml | apply -f -` keeps it. Its AGE runs
from the first of its `Namespace` document and its objects (`default` and `istio-system`: from
the control plane's start). Endpoints are
kubectl's: per Service with a selector, the pods of its namespace that carry the selector's
labels, at the Service's target ports.
"""

from __future__ import annotations

from typing import Any

from pilotfish.cli.kube_pods import ISTIO_SYSTEM, is_ready, istiod_serving
from pilotfish.cli.kube_views import created_of, timestamp
from pilotfish.config.object_meta import CREATED
from pilotfish.config.server_meta import STORED_META
from pilotfish.registry.injection import IMPLICIT_LABELS

NAME_LABEL = "kubernetes.io/metadata.name"  # the label Kubernetes puts on every namespace


def namespaces(
    info: dict[str, Any], documents: list[dict[str, Any]], running: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every namespace the mesh knows: `istio-system`, `default`, those a `Namespace` document
    names (with its labels: `label namespace` writes them) and those holding config or pods."""
    started = float(info.get("control_plane_created") or 0)
    first = [ISTIO_SYSTEM, "default"] if istiod_serving(info) else ["default"]
    labels: dict[str, dict[str, str]] = {name: {} for name in first}
    created = {name: [started] for name in first}  # there from the start
    kept: dict[str, dict[str, Any]] = {}  # a stored Namespace's own uid, resourceVersion, …
    for doc in [*documents, *running]:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == "Namespace":
            name = str(meta.get("name"))
            kept[name] = {k: meta[k] for k in STORED_META if k in meta}
            found = labels.setdefault(name, {})
            found.update({str(k): str(v) for k, v in (meta.get("labels") or {}).items()})
        else:
            name = str(meta.get("namespace") or "default")
            labels.setdefault(name, {})
        created.setdefault(name, []).append(created_of(meta))  # its first object's, else own
    for name, found in labels.items():
        if name not in kept:  # never created explicitly: local mode's implicit labels
            labels[name] = IMPLICIT_LABELS | found
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _namespace_meta(
                name, min((t for t in created.get(name, []) if t), default=started), labels[name]
            )
            | kept.get(name, {}),
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        for name in sorted(labels)
    ]


def endpoints(
    services_found: list[dict[str, Any]], running: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """kubectl's `Endpoints` of each Service with a selector: the pods of its namespace carrying
    every selector label, ready ones in `addresses`, others in `notReadyAddresses`, at the
    Service's target ports."""
    found = []
    for svc in services_found:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        selector = spec.get("selector") or {}
        subsets = []
        chosen = [
            p
            for p in running
            if selector
            and p["metadata"]["namespace"] == meta.get("namespace")
            and all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        if chosen:
            ready = [p for p in chosen if is_ready(p)]
            subset: dict[str, Any] = {
                "ports": [
                    {
                        **({"name": port["name"]} if port.get("name") else {}),
                        "port": _target(port),
                        "protocol": port.get("protocol", "TCP"),
                    }
                    for port in spec.get("ports") or []
                ]
            }
            for key, pods_in in (("addresses", ready), ("notReadyAddresses", [
                p for p in chosen if p not in ready
            ])):  # fmt: skip
                if pods_in:
                    subset[key] = [_address_of(p) for p in pods_in]
            subsets.append(subset)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {  # the endpoints controller's object: the Service's name and labels
                **{k: meta[k] for k in ("name", "namespace", CREATED) if k in meta},
                "labels": dict(meta.get("labels") or {}),
            },
        }
        if subsets:
            body["subsets"] = subsets
        found.append(body)
    return found


def _target(port: dict[str, Any]) -> int:
    """The target port as a number (a named one, which no local pod declares: the port)."""
    target = str(port.get("targetPort", port.get("port")))
    return int(target) if target.isdigit() else int(port["port"])


def _address_of(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": "localhost",
        "targetRef": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"]},
    }


def endpoint_list(endpoints_obj: dict[str, Any]) -> str:
    """kubectl's ENDPOINTS column: at most three `ip:port`, then ` + N more...`; `<none>` without
    subsets."""
    subsets = endpoints_obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a["ip"] for a in subset.get("addresses") or []]
        for port in subset.get("ports") or [None]:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    shown.append(ip if port is None else f"{ip}:{port['port']}")
    more = count - len(shown)
    return ",".join(shown) + (f" + {more} more..." if more > 0 else "")


def _namespace_meta(name: str, created: float, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {NAME_LABEL: name} | labels}
    if created:
        meta["creationTimestamp"] = timestamp(created)
    return meta
