"""The fields Kubernetes has in `apps/v1 Deployment` and `v1 Pod` (from the Kubernetes API
reference, core/v1 and apps/v1), so that a field Kubernetes does not have is warned about by
path, as unknown fields of Istio kinds are. A field given as `None` is a leaf, or a subtree not
checked further (volumes, affinity, resources …: valid Kubernetes, unused in local mode).

Owns `FIELDS` (kind -> field tree) and `unknown_fields`. Pure data; imports nothing of pilotfish.
"""

from __future__ import annotations

from typing import Any

Tree = dict[str, Any]  # field name -> Tree (object or list of objects) or None (not checked)


def _leaves(*names: str) -> Tree:
    return dict.fromkeys(names)


OBJECT_META: Tree = _leaves(
    "annotations", "labels", "name", "namespace", "generateName", "uid", "resourceVersion",
    "creationTimestamp", "ownerReferences", "finalizers", "generation", "managedFields",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
)  # fmt: skip

_PORT_HANDLER = _leaves("host", "port")
PROBE: Tree = {
    "httpGet": {
        **_leaves("host", "path", "port", "scheme"),
        "httpHeaders": _leaves("name", "value"),
    },
    "tcpSocket": _PORT_HANDLER,
    "exec": _leaves("command"),
    "grpc": _leaves("port", "service"),
    **_leaves(
        "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold",
        "failureThreshold", "terminationGracePeriodSeconds",
    ),
}  # fmt: skip

CONTAINER: Tree = {
    **_leaves(
        "name", "image", "command", "args", "workingDir", "envFrom", "resources",
        "resizePolicy", "restartPolicy", "restartPolicyRules", "securityContext", "lifecycle",
        "imagePullPolicy", "stdin", "stdinOnce", "tty", "terminationMessagePath",
        "terminationMessagePolicy", "volumeDevices", "volumeMounts", "livenessProbe",
        "startupProbe",
    ),
    "env": {
        **_leaves("name", "value"),
        "valueFrom": {
            "fieldRef": _leaves("fieldPath", "apiVersion"),
            **_leaves("resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef"),
        },
    },
    "ports": _leaves("containerPort", "hostIP", "hostPort", "name", "protocol"),
    "readinessProbe": PROBE,
}  # fmt: skip

POD_SPEC: Tree = {
    "containers": CONTAINER,
    "initContainers": CONTAINER,
    **_leaves(
        "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "dnsConfig",
        "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC",
        "hostNetwork", "hostPID", "hostUsers", "hostname", "hostnameOverride",
        "imagePullSecrets", "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy",
        "priority", "priorityClassName", "readinessGates", "resourceClaims", "resources",
        "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
        "securityContext", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN",
        "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds", "tolerations",
        "topologySpreadConstraints", "volumes",
    ),
}  # fmt: skip

DEPLOYMENT: Tree = {
    **_leaves("apiVersion", "kind", "status"),
    "metadata": OBJECT_META,
    "spec": {
        **_leaves(
            "replicas", "strategy", "minReadySeconds", "revisionHistoryLimit",
            "progressDeadlineSeconds", "paused",
        ),
        "selector": _leaves("matchLabels", "matchExpressions"),
        "template": {"metadata": OBJECT_META, "spec": POD_SPEC},
    },
}  # fmt: skip

POD: Tree = {**_leaves("apiVersion", "kind", "status"), "metadata": OBJECT_META, "spec": POD_SPEC}

FIELDS: dict[str, Tree] = {"Deployment": DEPLOYMENT, "Pod": POD}


def unknown_fields(data: Any, tree: Tree, path: str = "") -> list[tuple[str, str]]:
    """(field path, message) for every field of data that tree does not have."""
    found: list[tuple[str, str]] = []
    if isinstance(data, list):
        for index, item in enumerate(data):
            found += unknown_fields(item, tree, f"{path}[{index}]")
        return found
    if not isinstance(data, dict):
        return found
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in tree:
            found.append((where, f'unknown field "{key}"'))
        elif tree[key] is not None:
            found += unknown_fields(value, tree[key], where)
    return found
