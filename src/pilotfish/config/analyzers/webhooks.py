"""Istio's analyzers of admission webhook configurations given among the inputs:

- webhook.Analyzer, IST0139: Istio's injection webhooks (a webhook named `*istio.io`, or a
  revision in its labels or selectors) whose namespace and object selectors overlap for some
  combination of injection labels (injection would run twice), or whose service does not exist;
- externalcontrolplane, IST0163/IST0164: Istio's validating (`istiod-default-validator`,
  `istio-validator*`) and injecting (`istio-sidecar-injector*`) webhooks with neither a URL nor
  a service, an unparsable URL, or a URL to an IP address rather than a host name;
- injection.ImageAutoAnalyzer, IST0146/IST0147: `image: auto` on an istio-proxy container of a
  Deployment no Istio injection webhook selects (the image is never replaced), or of a Pod (it
  was not replaced). Pure.
"""

from __future__ import annotations

import ipaddress
from itertools import product
from typing import Any
from urllib.parse import urlsplit

from pilotfish.config.analyzers.documents import (
    as_list,
    as_map,
    as_strings,
    doc_message,
    documents,
    label_selector_matches,
)
from pilotfish.config.analyzers.kube import INJECT, INJECTION_LABEL, PROXY_CONTAINER, Kube
from pilotfish.config.analyzers.kube_objects import REVISION
from pilotfish.config.analyzers.messages import AnalysisMessage
from pilotfish.config.load import LoadResult
from pilotfish.config.yaml_text import RawDocument

ADMISSION = "admissionregistration.k8s.io"
VALIDATOR = "istiod-default-validator"
VALIDATOR_PREFIX = "istio-validator"
INJECTOR_PREFIX = "istio-sidecar-injector"


def _webhooks(doc: RawDocument) -> list[dict[str, Any]]:
    return [as_map(w) for w in as_list(doc.data.get("webhooks"))]


def _revisions(doc: RawDocument) -> set[str]:
    found = set()
    if REVISION in as_strings(doc.metadata.get("labels")):
        found.add(as_strings(doc.metadata.get("labels"))[REVISION])
    for hook in _webhooks(doc):
        for key in ("namespaceSelector", "objectSelector"):
            selector = as_map(hook.get(key))
            labels = as_strings(selector.get("matchLabels"))
            if REVISION in labels:
                found.add(labels[REVISION])
            for expression in as_list(selector.get("matchExpressions")):
                if as_map(expression).get("key") == REVISION:
                    found |= {str(v) for v in as_list(as_map(expression).get("values"))}
    return found


def _label_sets(key: str, revisions: set[str]) -> list[dict[str, str]]:
    base = [{}, {key: "enabled" if key == INJECTION_LABEL else "true"}]
    base.append({key: "disabled" if key == INJECTION_LABEL else "false"})
    return base + [{**b, REVISION: r} for r in sorted(revisions) for b in base]


def overlapping_webhooks(result: LoadResult, kube: Kube) -> list[AnalysisMessage]:
    configs: list[RawDocument] = []
    revisions: set[str] = set()
    for doc in documents(result, "MutatingWebhookConfiguration", ADMISSION):
        found = _revisions(doc)
        if found or any(str(h.get("name") or "").endswith("istio.io") for h in _webhooks(doc)):
            configs.append(doc)
            revisions |= found
    out: list[AnalysisMessage] = []
    seen: set[tuple[str, str]] = set()

    def report(doc: RawDocument, text: str) -> None:
        name = str(doc.metadata.get("name") or "")
        if (name, text) not in seen:
            seen.add((name, text))
            out.append(doc_message(doc, "Error", "IST0139", text))

    for ns_labels, pod_labels in product(
        _label_sets(INJECTION_LABEL, revisions), _label_sets(INJECT, revisions)
    ):
        matches = {
            f"{doc.metadata.get('name')}/{hook.get('name')}": doc
            for doc in configs
            for hook in _webhooks(doc)
            if label_selector_matches(hook.get("namespaceSelector"), ns_labels)
            and label_selector_matches(hook.get("objectSelector"), pod_labels)
        }
        if len(matches) > 1:
            for match, doc in sorted(matches.items()):
                others = " ".join(sorted(m for m in matches if m != match))
                report(
                    doc,
                    f"Webhook overlaps with others: [{others}]. "
                    "This may cause injection to occur twice.",
                )
    services = {(s.namespace, s.name) for s in kube.services}
    for doc in configs:
        for hook in _webhooks(doc):
            service = as_map(hook.get("clientConfig")).get("service")
            if not isinstance(service, dict):
                continue
            key = (str(service.get("namespace") or ""), str(service.get("name") or ""))
            if key not in services:
                report(
                    doc,
                    "Injector refers to a control plane service that does not exist: "
                    f"{key[0]}/{key[1]}.",
                )
    return out


def _client_messages(doc: RawDocument, hook: dict[str, Any]) -> list[AnalysisMessage]:
    name = hook.get("name") or ""
    client = as_map(hook.get("clientConfig"))
    url = client.get("url")
    if isinstance(url, str):
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            text = (
                f"The hostname ({url}) that was provided for the webhook ({name}) to reach the "
                "ingress gateway on the external control plane cluster was provided in an invalid "
                "format. Traffic may not flow properly."
            )
            return [doc_message(doc, "Warning", "IST0163", text)]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return []
        text = (
            f"The address ({url}) that was provided for the webhook ({name}) to reach the ingress "
            "gateway on the external control plane cluster is an IP address. This is not "
            "recommended for a production environment."
        )
        return [doc_message(doc, "Info", "IST0164", text)]
    if client.get("service") is None:
        text = (
            f"The hostname () that was provided for the webhook ({name}) to reach the ingress "
            "gateway on the external control plane cluster is blank. Traffic may not flow properly."
        )
        return [doc_message(doc, "Warning", "IST0163", text)]
    return []


def _istio_webhook_config(kind: str, name: str) -> bool:
    if kind == "ValidatingWebhookConfiguration":
        return name == VALIDATOR or name.startswith(VALIDATOR_PREFIX)
    return name.startswith(INJECTOR_PREFIX)


def external_control_plane(result: LoadResult) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for doc in documents(result, kind, ADMISSION):
            if _istio_webhook_config(kind, str(doc.metadata.get("name") or "")):
                for hook in _webhooks(doc):
                    out += _client_messages(doc, hook)
    return out


def _auto_image(spec: dict[str, Any]) -> bool:
    return any(
        as_map(c).get("name") == PROXY_CONTAINER and as_map(c).get("image") == "auto"
        for c in as_list(spec.get("containers"))
    )


def image_auto(result: LoadResult, kube: Kube) -> list[AnalysisMessage]:
    hooks = [
        hook
        for doc in documents(result, "MutatingWebhookConfiguration", ADMISSION)
        for hook in _webhooks(doc)
        if str(hook.get("name") or "").endswith("istio.io")
    ]
    out: list[AnalysisMessage] = []
    for pod in kube.pods:
        if pod.document is not None and _auto_image(pod.spec):
            text = (
                f"Pod {pod.name} contains `image: auto` but does not match any Istio injection "
                "webhook selectors."
            )
            out.append(doc_message(pod.document, "Error", "IST0147", text))
    for deployment in kube.deployments:
        template = as_map(deployment.spec.get("template"))
        if deployment.document is None or not _auto_image(as_map(template.get("spec"))):
            continue
        namespace = kube.namespaces.get(deployment.namespace)
        ns_labels = namespace.labels if namespace is not None else {}
        pod_labels = as_strings(as_map(template.get("metadata")).get("labels"))
        if not any(
            label_selector_matches(h.get("namespaceSelector"), ns_labels)
            and label_selector_matches(h.get("objectSelector"), pod_labels)
            for h in hooks
        ):
            text = (
                f"Deployment {deployment.name} contains `image: auto` but does not match any "
                "Istio injection webhook selectors."
            )
            out.append(doc_message(deployment.document, "Warning", "IST0146", text))
    return out
