"""Sidecar injection, decided once when a Deployment, Pod or Workload is applied (as Istio's
`istio-sidecar-injector` webhooks decide when a pod is created).

Istio's rules, in their order: a namespace labelled `istio-injection=enabled` (or, with no
`istio-injection` label, `istio.io/rev`) injects every pod except one labelled
`sidecar.istio.io/inject: "false"`; after the webhook matched, the pod's
`sidecar.istio.io/inject` (label, else annotation) is read as the injector reads it (`y`,
`yes`, `true`, `on` or empty: inject; anything else: not). A namespace with neither label
injects only pods labelled `sidecar.istio.io/inject: "true"` (without `istio.io/rev`), or
labelled `istio.io/rev: default` (the default revision's object webhook, unless the pod says
`sidecar.istio.io/inject: "false"`); `istio-injection=disabled` (or any other value) never
injects. This mesh runs one revision, `default` (`REVISIONS`): a namespace or pod labelled
`istio.io/rev` with another revision matches no webhook (Istio installs one per revision), so
its pods are not injected unless the namespace says `istio-injection=enabled`, which takes
precedence as in Istio; `revision_warning` says so when such a label is applied. A pod that
carries `sidecar.istio.io/status` (what `kube-inject` writes, as istioctl's output carries its
sidecar in) has its sidecar whatever its namespace says: the webhook's decision does not take a
container out.

A gateway (`istio: ingressgateway|egressgateway`) is its Envoy, so it always has one.
Local mode's convenience: a namespace never created explicitly (no `create ns`, no applied
`v1 Namespace`) counts as `istio-injection=enabled` (`IMPLICIT_LABELS`, which `get ns` shows
on it, so `get ns default -o yaml | apply -f -` keeps it), so `pilotfish up samples/bookinfo`
runs with sidecars; a pod there that names another revision is not injected, as in a namespace with
no label (it asked for a webhook that does not exist). `pod_injection` says why too (`istioctl
x check-inject`'s reasons). The decision is kept on the stored document
(`pilotfish.io/injected`): a label changed later does not change running pods; applying the
workload again decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pilotfish.registry.workloads import (
    INJECT_ANNOTATION,
    INJECTED_ANNOTATION,
    STATUS_ANNOTATION,
    is_gateway_pod,
)

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
DEFAULT_REVISION = "default"
REVISIONS = frozenset({DEFAULT_REVISION})  # the control plane revisions this mesh runs
TRUE_WORDS = frozenset({"y", "yes", "true", "on", ""})
IMPLICIT_LABELS = {INJECTION_LABEL: "enabled"}
"""The labels of a namespace never created explicitly, in local mode."""


@dataclass(frozen=True)
class InjectionDecision:
    """Whether the pod gets a sidecar, and why, in the words of `istioctl x check-inject`."""

    injected: bool
    reason: str


NO_MATCH = (
    f"No matching namespace labels ({REVISION_LABEL}={DEFAULT_REVISION}, "
    f"{INJECTION_LABEL}=enabled) or pod labels ({REVISION_LABEL}={DEFAULT_REVISION}, "
    f"{INJECT_ANNOTATION}=true)"
)


def injection_decision(
    pod_labels: Mapping[str, Any],
    pod_annotations: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
) -> InjectionDecision:
    """Whether Istio's webhooks inject this pod, and which label decided; `namespace_labels`
    None: a namespace never created explicitly (local mode: injection enabled)."""
    label = pod_labels.get(INJECT_ANNOTATION)
    ns = IMPLICIT_LABELS if namespace_labels is None else namespace_labels
    refused = f"Pod has {INJECT_ANNOTATION}={label} label, preventing injection"
    with_pod = f", and pod label {INJECT_ANNOTATION}={label} matches" if label is not None else ""
    if INJECTION_LABEL in ns:
        if ns[INJECTION_LABEL] != "enabled":
            value = ns[INJECTION_LABEL]
            why = f"Namespace has {INJECTION_LABEL}={value} label, preventing injection"
            return InjectionDecision(False, why)
        if str(label) == "false":
            return InjectionDecision(False, refused)
        if namespace_labels is None and _unknown_revision(pod_labels):
            return InjectionDecision(False, NO_MATCH)  # as in an unlabelled namespace
        why = f"Namespace label {INJECTION_LABEL}=enabled matches{with_pod}"
        if namespace_labels is None:
            why += " (a namespace never created explicitly has it in local mode)"
    elif REVISION_LABEL in ns:
        if ns[REVISION_LABEL] not in REVISIONS:  # no webhook of that revision: none matches
            return InjectionDecision(False, NO_MATCH)
        if str(label) == "false":
            return InjectionDecision(False, refused)
        why = f"Namespace label {REVISION_LABEL}={ns[REVISION_LABEL]} matches{with_pod}"
    elif str(label) == "true" and REVISION_LABEL not in pod_labels:  # the object selector
        why = f"Pod label {INJECT_ANNOTATION}=true matches"
    elif pod_labels.get(REVISION_LABEL) == DEFAULT_REVISION and str(label) != "false":
        why = f"Pod label {REVISION_LABEL}={DEFAULT_REVISION} matches"  # the revision's one
    else:
        return InjectionDecision(False, refused if str(label) == "false" else NO_MATCH)
    value, where = (label, "label") if label is not None else (
        pod_annotations.get(INJECT_ANNOTATION, ""), "annotation"
    )  # fmt: skip
    if str(value).lower() not in TRUE_WORDS:  # the injector's policy, after the webhook
        return InjectionDecision(
            False, f"Pod has {INJECT_ANNOTATION}={value} {where}, preventing injection"
        )
    return InjectionDecision(True, why)


def _unknown_revision(labels: Mapping[str, Any]) -> bool:
    return REVISION_LABEL in labels and str(labels[REVISION_LABEL]) not in REVISIONS


def revision_warning(
    kind: str,
    labels: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
    annotations: Mapping[str, Any] | None = None,
) -> str:
    """What `apply` says about an `istio.io/rev` label naming a revision this mesh does not
    run, on a Namespace (`kind` "Namespace") or a pod (its `labels` and `annotations`, in a
    namespace with `namespace_labels`); "" when there is nothing to say."""
    if not _unknown_revision(labels):
        return ""
    value = labels[REVISION_LABEL]
    head = (
        f"label {REVISION_LABEL}={value}: this mesh runs only the revision "
        f"{', '.join(sorted(REVISIONS))}, so there is no injection webhook of revision {value!r}"
    )
    if kind == "Namespace":
        if INJECTION_LABEL in labels:
            return f"{head}; the namespace's {INJECTION_LABEL} label decides (it takes precedence)"
        return f"{head}: pods created in this namespace get no sidecar"
    decision = injection_decision(labels, annotations or {}, namespace_labels)
    if decision.injected:
        return f"{head}; the pod is injected all the same: {decision.reason}"
    return f"{head}: the pod gets no sidecar"


def pod_injection(
    pod_labels: Mapping[str, Any],
    pod_annotations: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
) -> InjectionDecision:
    """The mesh's decision for a pod: a gateway is its Envoy (Istio's `gateway` injection
    template, or the proxy container itself), a pod `kube-inject` marked carries its sidecar,
    every other pod is the webhooks' (`injection_decision`)."""
    if is_gateway_pod(pod_labels):
        return InjectionDecision(True, "Pod is a gateway: its Envoy is the pod's own container")
    if STATUS_ANNOTATION in pod_annotations:
        why = f"Pod carries {STATUS_ANNOTATION}: injected beforehand (kube-inject)"
        return InjectionDecision(True, why)
    return injection_decision(pod_labels, pod_annotations, namespace_labels)


def injection_wanted(
    pod_labels: Mapping[str, Any],
    pod_annotations: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
) -> bool:
    """Whether Istio's webhooks inject this pod (`injection_decision`)."""
    return injection_decision(pod_labels, pod_annotations, namespace_labels).injected


def stamp_injection(
    meta: dict[str, Any], pod_meta: Mapping[str, Any], namespace_labels: Mapping[str, str] | None
) -> None:
    """Record the decision on a document's metadata (kept when already there: the store, or
    `get -o yaml` applied back)."""
    notes = meta.get("annotations")
    if isinstance(notes, dict) and INJECTED_ANNOTATION in notes:
        return
    labels = pod_meta.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    pod_notes = pod_meta.get("annotations")
    pod_notes = pod_notes if isinstance(pod_notes, dict) else {}
    wanted = pod_injection(labels, pod_notes, namespace_labels).injected
    if not isinstance(notes, dict):
        notes = meta["annotations"] = {}
    notes[INJECTED_ANNOTATION] = "true" if wanted else "false"


def recorded_injection(notes: Mapping[str, Any], legacy: bool) -> bool:
    """The decision kept on the document, else `legacy` (a document stored before decisions
    were recorded, or parsed outside the control plane)."""
    value = notes.get(INJECTED_ANNOTATION)
    return legacy if value is None else str(value) == "true"


def namespace_labels(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The labels of each namespace created explicitly, from `v1 Namespace` documents."""
    found: dict[str, dict[str, str]] = {}
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) != ("v1", "Namespace"):
            continue
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            continue
        labels = meta.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        found[meta["name"]] = {str(k): str(v) for k, v in labels.items()}
    return found
