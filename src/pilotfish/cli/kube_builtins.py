"""Objects every namespace of a cluster running Istio holds without anyone applying them, for
`get sa` and `get cm`: Kubernetes' `default` ServiceAccount (its service-account controller
makes one in each namespace) and Istio's `istio-ca-root-cert` ConfigMap (istiod's namespace
controller writes it into each namespace), whose `data["root-cert.pem"]` is the mesh's trust
bundle: the roots the control plane hands every sidecar (`/debug/ca`'s `root_cert`; after a
plug-in `cacerts` Secret, that Secret's `root-cert.pem`). And Istio's install's `istio`
ConfigMap in istio-system: the mesh config, Istio's defaults when none was applied; and its
`istio-sidecar-injector` ConfigMap, the injector's settings as pilotfish applies them (`policy:
enabled`, no always/never selectors: Istio's defaults; "Sidecar Injection Problems" greps
`policy:`), without Istio's injection templates (pilotfish starts its own sidecar).

They are in every namespace `get ns` lists, created with it, and an applied object of the same
name and namespace takes their place. kubectl's `get all` lists neither kind (its `all` category
is pods, services, deployments, ...), so `get all` does not show them.
"""

from __future__ import annotations

import json
from typing import Any

from pilotfish.cli.errors import mesh_call
from pilotfish.cli.kube_pods import ISTIO_SYSTEM
from pilotfish.cli.kube_views import timestamp

SERVICE_ACCOUNT = "default"
ROOT_CERT_CONFIGMAP = "istio-ca-root-cert"
ROOT_CERT_KEY = "root-cert.pem"
CONFIG_LABEL = {"istio.io/config": "true"}  # the label istiod puts on the ConfigMap
INJECTOR = "istio-sidecar-injector"
INJECTOR_CONFIG = """\
defaultTemplates: [sidecar]
policy: enabled
alwaysInjectSelector:
  []
neverInjectSelector:
  []
injectedAnnotations:
"""
INJECTOR_VALUES = {
    "global": {"istioNamespace": ISTIO_SYSTEM, "proxy": {"autoInject": "enabled"}},
    "revision": "",
    "sidecarInjectorWebhook": {
        "alwaysInjectSelector": [], "defaultTemplates": [], "enableNamespacesByDefault": False,
        "injectedAnnotations": {}, "neverInjectSelector": [], "reinvocationPolicy": "Never",
        "rewriteAppHTTPProbe": True, "templates": {},
    },
}  # fmt: skip


def always_there(
    kind: str,
    stored: list[dict[str, Any]],
    names: list[str],
    namespace: str | None,
    info: dict[str, Any],
) -> list[dict[str, Any]]:
    """What `get KIND [NAME…]` (`kind` ServiceAccount or ConfigMap) finds in `namespace` (None:
    every one) besides the `stored` objects: those no one applied."""
    from pilotfish.cli.kube_get import objects  # it imports `get`, which imports this module

    wanted = (
        {SERVICE_ACCOUNT} if kind == "ServiceAccount" else {ROOT_CERT_CONFIGMAP, "istio", INJECTOR}
    )
    if names and not wanted & set(names):
        return []
    found: list[dict[str, Any]] = []
    if kind == "ConfigMap" and namespace in (None, ISTIO_SYSTEM):
        found += _istio_configmap(stored, float(info.get("control_plane_created") or 0))
        found += _injector_configmap(stored, float(info.get("control_plane_created") or 0))
    if not names or ROOT_CERT_CONFIGMAP in names or SERVICE_ACCOUNT in names:
        spaces = [n for n in objects("ns", info) if namespace in (None, n["metadata"]["name"])]
        root = mesh_root_cert(info) if kind == "ConfigMap" else ""
        found += builtin_objects(kind, spaces, stored, root)
    return found


def _istio_configmap(stored: list[dict[str, Any]], started: float) -> list[dict[str, Any]]:
    """Istio's install always leaves an `istio` ConfigMap in istio-system: when none was applied
    (`up DIR` with none in it), the mesh runs on Istio's defaults, shown as that ConfigMap
    (created when the control plane started)."""
    if any(
        (d.get("metadata") or {}).get("name") == "istio"
        and (d.get("metadata") or {}).get("namespace") == ISTIO_SYSTEM
        for d in stored
    ):
        return []
    from pilotfish.cli.install import ISTIO_MESH_DEFAULTS, istio_configmap

    default = istio_configmap(ISTIO_MESH_DEFAULTS)
    if started:
        default.setdefault("metadata", {})["creationTimestamp"] = timestamp(started)
    return [default]


def _injector_configmap(stored: list[dict[str, Any]], started: float) -> list[dict[str, Any]]:
    """Istio's install's `istio-sidecar-injector` ConfigMap in istio-system (its chart's
    istiod-injector-configmap.yaml for the default profile, but the templates), unless one
    was applied."""
    if any(
        (d.get("metadata") or {}).get("name") == INJECTOR
        and (d.get("metadata") or {}).get("namespace") == ISTIO_SYSTEM
        for d in stored
    ):
        return []
    labels = {"app.kubernetes.io/name": "istiod", "istio.io/rev": "default",
              "operator.istio.io/component": "Pilot"}  # fmt: skip
    meta: dict[str, Any] = {"labels": labels, "name": INJECTOR, "namespace": ISTIO_SYSTEM}
    if started:
        meta["creationTimestamp"] = timestamp(started)
    values = json.dumps(INJECTOR_VALUES, indent=2, sort_keys=True)
    data = {"config": INJECTOR_CONFIG, "values": values}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "data": data, "metadata": meta}]


def mesh_root_cert(info: dict[str, Any]) -> str:
    """The PEM roots the running control plane gives its sidecars ("" when it cannot say)."""
    status, body = mesh_call(info, "GET", "/debug/ca")
    return str(body.get("root_cert") or "") if status == 200 else ""


def builtin_objects(
    kind: str,
    namespaces: list[dict[str, Any]],
    stored: list[dict[str, Any]],
    root_cert: str,
) -> list[dict[str, Any]]:
    """The `default` ServiceAccounts (`kind` ServiceAccount) or `istio-ca-root-cert` ConfigMaps
    (ConfigMap) of `namespaces` (Namespace objects), but where `stored` has that name already."""
    taken = {
        (str((d.get("metadata") or {}).get("namespace") or "default"), d["metadata"].get("name"))
        for d in stored
        if d.get("metadata")
    }
    found = []
    for ns in namespaces:
        meta = ns["metadata"]
        namespace = str(meta["name"])
        created = {k: v for k, v in meta.items() if k == "creationTimestamp"}
        if kind == "ServiceAccount" and (namespace, SERVICE_ACCOUNT) not in taken:
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": SERVICE_ACCOUNT, "namespace": namespace, **created},
                }
            )
        if kind == "ConfigMap" and (namespace, ROOT_CERT_CONFIGMAP) not in taken and root_cert:
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "data": {ROOT_CERT_KEY: root_cert},
                    "metadata": {
                        "labels": dict(CONFIG_LABEL),
                        "name": ROOT_CERT_CONFIGMAP,
                        "namespace": namespace,
                        **created,
                    },
                }
            )
    return found
