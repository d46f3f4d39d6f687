"""The admission webhook configurations Istio's install leaves in a cluster, for `get
mutatingwebhookconfiguration|validatingwebhookconfiguration` (Istio's "Sidecar Injection
Problems" page greps the injector's `namespaceSelector:` and compares its `caBundle` with the
`istio-ca-root-cert` ConfigMap; "Configuration Validation Problems" reads the validator's):
`istio-sidecar-injector` with the default revision's four webhooks and
`istio-validator-istio-system`, shaped as Istio's chart writes them (istio-discovery's
mutatingwebhook.yaml and validatingwebhookconfiguration.yaml), the caBundle the mesh's trust
bundle as istiod patches it in.

They describe what pilotfish's injection and validation really do (the namespace label
`istio-injection`, the pod label/annotation `sidecar.istio.io/inject`, `istio.io/rev=default`;
validation of Istio's API groups on every apply): read-only views made when asked, cluster
objects created when the control plane started. Owns `MUTATING`, `VALIDATING`, `KINDS` and
`webhook_configurations`.
"""

from __future__ import annotations

import base64
from typing import Any

from pilotfish.cli.kube_pods import ISTIO_SYSTEM

GROUP = "admissionregistration.k8s.io"
MUTATING, VALIDATING = "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"
KINDS = {
    name: kind
    for kind in (MUTATING, VALIDATING)
    for name in (kind.lower(), kind.lower() + "s", f"{kind.lower()}.{GROUP}",
                 f"{kind.lower()}s.{GROUP}")
}  # fmt: skip
INJECTOR, VALIDATOR = "istio-sidecar-injector", f"istio-validator-{ISTIO_SYSTEM}"
_LABELS = {"app.kubernetes.io/name": "istiod", "istio.io/rev": "default",
           "operator.istio.io/component": "Pilot"}  # fmt: skip


def _in(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def _absent(key: str) -> dict[str, Any]:
    return {"key": key, "operator": "DoesNotExist"}


def _not_false() -> dict[str, Any]:
    return {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}


def _injector_webhook(
    prefix: str, namespaces: list[dict[str, Any]], objects: list[dict[str, Any]], ca: str
) -> dict[str, Any]:
    service = {"name": "istiod", "namespace": ISTIO_SYSTEM, "path": "/inject", "port": 443}
    return {
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"caBundle": ca, "service": service},
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "name": f"{prefix}sidecar-injector.istio.io",
        "namespaceSelector": {"matchExpressions": namespaces},
        "objectSelector": {"matchExpressions": objects},
        "reinvocationPolicy": "Never",
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                   "resources": ["pods"], "scope": "*"}],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }  # fmt: skip


def _metadata(name: str, created: str, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {**_LABELS, **labels}, "name": name}
    return meta | ({"creationTimestamp": created} if created else {})


def injector(root_cert: str, created: str = "") -> dict[str, Any]:
    """Istio's `istio-sidecar-injector` for the default revision (no `enableNamespacesByDefault`):
    the revision's namespace and object webhooks, then the `istio-injection` ones."""
    ca = base64.b64encode(root_cert.encode()).decode() if root_cert else ""

    def rev() -> dict[str, Any]:
        return _in("istio.io/rev", "default")

    webhooks = [
        _injector_webhook(
            "rev.namespace.", [rev(), _absent("istio-injection")], [_not_false()], ca
        ),
        _injector_webhook(
            "rev.object.",
            [_absent("istio.io/rev"), _absent("istio-injection")],
            [_not_false(), rev()],
            ca,
        ),
        _injector_webhook("namespace.", [_in("istio-injection", "enabled")], [_not_false()], ca),
        _injector_webhook(
            "object.",
            [_absent("istio-injection"), _absent("istio.io/rev")],
            [_in("sidecar.istio.io/inject", "true"), _absent("istio.io/rev")],
            ca,
        ),
    ]
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": MUTATING,
        "metadata": _metadata(INJECTOR, created, {"app": "sidecar-injector"}),
        "webhooks": webhooks,
    }


def validator(root_cert: str, created: str = "") -> dict[str, Any]:
    """Istio's `istio-validator-istio-system`: Istio's API groups, as istiod's webhook
    controller leaves it once its endpoint is ready (`failurePolicy: Fail`, the caBundle)."""
    ca = base64.b64encode(root_cert.encode()).decode() if root_cert else ""
    groups = ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
              "extensions.istio.io"]  # fmt: skip
    webhook = {
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "caBundle": ca,
            "service": {"name": "istiod", "namespace": ISTIO_SYSTEM, "path": "/validate",
                        "port": 443},
        },
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "name": "rev.validation.istio.io",
        "namespaceSelector": {},
        "objectSelector": {"matchExpressions": [_in("istio.io/rev", "default")]},
        "rules": [{"apiGroups": groups, "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                   "resources": ["*"], "scope": "*"}],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }  # fmt: skip
    labels = {"app": "istiod", "istio": "istiod"}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": VALIDATING,
        "metadata": _metadata(VALIDATOR, created, labels),
        "webhooks": [webhook],
    }


def webhook_configurations(kind: str, root_cert: str, created: str = "") -> list[dict[str, Any]]:
    """The objects of `kind` (MUTATING or VALIDATING) the install leaves."""
    return [injector(root_cert, created) if kind == MUTATING else validator(root_cert, created)]
