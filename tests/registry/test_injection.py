"""Istio's injection decision (`pilotfish.registry.injection`): the webhooks' namespace and
object selectors, then the injector's reading of `sidecar.istio.io/inject`; and the decision as
it is recorded when documents are applied (`parse_documents(..., namespaces=...)`)."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.registry.injection import (
    NO_MATCH,
    injection_wanted,
    namespace_labels,
    pod_injection,
)
from pilotfish.registry.inputs import parse_documents

INJECT = "sidecar.istio.io/inject"
ENABLED = {"istio-injection": "enabled"}
DISABLED = {"istio-injection": "disabled"}
REVISION = {"istio.io/rev": "canary"}
DEFAULT_REV = {"istio.io/rev": "default"}
PLAIN: dict[str, str] = {}
NEVER_CREATED = None


@pytest.mark.parametrize(
    ("namespace", "labels", "annotations", "wanted"),
    [
        # a namespace never created explicitly: local mode's istio-injection=enabled
        (NEVER_CREATED, {}, {}, True),
        (NEVER_CREATED, {INJECT: "false"}, {}, False),
        (NEVER_CREATED, {}, {INJECT: "false"}, False),
        # istio-injection=enabled: every pod unless it says false
        (ENABLED, {}, {}, True),
        (ENABLED, {INJECT: "true"}, {}, True),
        (ENABLED, {INJECT: "false"}, {}, False),
        (ENABLED, {}, {INJECT: "false"}, False),
        (ENABLED, {}, {INJECT: "no"}, False),  # the injector: only y/yes/true/on inject
        (ENABLED, {}, {INJECT: "Yes"}, True),
        (ENABLED, {INJECT: "true"}, {INJECT: "false"}, True),  # the label wins
        (ENABLED, {INJECT: "false"}, {INJECT: "true"}, False),
        # istio.io/rev=default without istio-injection: as enabled (the default revision's
        # rev.namespace webhook, whatever revision the pod names)
        (DEFAULT_REV, {}, {}, True),
        (DEFAULT_REV, {INJECT: "false"}, {}, False),
        (DEFAULT_REV, {"istio.io/rev": "canary"}, {}, True),
        # a revision this mesh does not run: no webhook of it exists, so nothing matches
        (REVISION, {}, {}, False),
        (REVISION, {INJECT: "true"}, {}, False),
        (REVISION, {"istio.io/rev": "default"}, {}, False),
        ({**ENABLED, **REVISION}, {}, {}, True),  # istio-injection takes precedence
        (NEVER_CREATED, {"istio.io/rev": "canary"}, {}, False),  # as an unlabelled namespace
        (NEVER_CREATED, {"istio.io/rev": "default"}, {}, True),
        (ENABLED, {"istio.io/rev": "canary"}, {}, True),  # the namespace webhook matches
        # istio-injection wins over istio.io/rev; disabled (or any other value) never injects
        ({**DISABLED, **REVISION}, {}, {}, False),
        (DISABLED, {}, {}, False),
        (DISABLED, {INJECT: "true"}, {}, False),
        ({"istio-injection": "on"}, {}, {}, False),
        # no injection label: only pods labelled true (an annotation is not enough)
        (PLAIN, {}, {}, False),
        (PLAIN, {INJECT: "true"}, {}, True),
        (PLAIN, {}, {INJECT: "true"}, False),
        (PLAIN, {INJECT: "true", "istio.io/rev": "canary"}, {}, False),
        # the default revision's object webhook: a pod labelled istio.io/rev=default
        (PLAIN, {"istio.io/rev": "default"}, {}, True),
        (PLAIN, {"istio.io/rev": "default", INJECT: "true"}, {}, True),
        (PLAIN, {"istio.io/rev": "default", INJECT: "false"}, {}, False),
        (PLAIN, {"istio.io/rev": "default"}, {INJECT: "no"}, False),
        (PLAIN, {"istio.io/rev": "canary"}, {}, False),
        (DISABLED, {"istio.io/rev": "default"}, {}, False),
        ({"team": "a"}, {INJECT: "true"}, {INJECT: "false"}, True),
    ],
)
def test_decision_table(
    namespace: dict[str, str] | None,
    labels: dict[str, str],
    annotations: dict[str, str],
    wanted: bool,
) -> None:
    assert injection_wanted(labels, annotations, namespace) is wanted


@pytest.mark.parametrize(
    ("namespace", "labels", "annotations", "injected", "reason"),
    [
        (ENABLED, {}, {}, True, "Namespace label istio-injection=enabled matches"),
        (ENABLED, {INJECT: "true"}, {}, True, "Namespace label istio-injection=enabled "
         "matches, and pod label sidecar.istio.io/inject=true matches"),
        (NEVER_CREATED, {}, {}, True, "Namespace label istio-injection=enabled matches (a "
         "namespace never created explicitly has it in local mode)"),
        (DEFAULT_REV, {}, {}, True, "Namespace label istio.io/rev=default matches"),
        (REVISION, {}, {}, False, NO_MATCH),
        (NEVER_CREATED, {"istio.io/rev": "canary"}, {}, False, NO_MATCH),
        (PLAIN, {INJECT: "true"}, {}, True, "Pod label sidecar.istio.io/inject=true matches"),
        (PLAIN, {"istio.io/rev": "default"}, {}, True, "Pod label istio.io/rev=default matches"),
        (PLAIN, {}, {}, False, NO_MATCH),
        (PLAIN, {INJECT: "false"}, {}, False,
         "Pod has sidecar.istio.io/inject=false label, preventing injection"),
        (ENABLED, {INJECT: "false"}, {}, False,
         "Pod has sidecar.istio.io/inject=false label, preventing injection"),
        (ENABLED, {}, {INJECT: "no"}, False,
         "Pod has sidecar.istio.io/inject=no annotation, preventing injection"),
        (DISABLED, {INJECT: "true"}, {}, False,
         "Namespace has istio-injection=disabled label, preventing injection"),
        (DISABLED, {"istio": "ingressgateway"}, {}, True,
         "Pod is a gateway: its Envoy is the pod's own container"),
        (PLAIN, {}, {"sidecar.istio.io/status": "{}"}, True,
         "Pod carries sidecar.istio.io/status: injected beforehand (kube-inject)"),
    ],
)  # fmt: skip
def test_each_decision_says_why_as_check_inject_does(
    namespace: dict[str, str] | None,
    labels: dict[str, str],
    annotations: dict[str, str],
    injected: bool,
    reason: str,
) -> None:
    decision = pod_injection(labels, annotations, namespace)
    assert (decision.injected, decision.reason) == (injected, reason)


def _pod(name: str, namespace: str, labels: str = "{app: a}", notes: str = "{}") -> str:
    return f"""apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {labels}, annotations: {notes}}}
spec:
  command: ["python", "app.py"]
---
"""


def _deployment(name: str, namespace: str, template_labels: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {template_labels}}}
    spec:
      containers: [{{name: app, image: docker.io/x/y}}]
---
"""


def _sidecars(text: str, stored: dict[str, dict[str, str]] | None) -> dict[str, bool]:
    _, parsed = parse_documents([("m.yaml", text)], namespaces=stored)
    assert parsed.ok, parsed.diagnostics
    return {f"{w.name}.{w.namespace}": w.sidecar for w in parsed.manifest.workloads}


def test_apply_records_the_decision_by_the_namespaces_labels() -> None:
    stored = {"foo": {}, "on": dict(ENABLED)}
    text = (
        _pod("a", "default")  # never created: enabled
        + _pod("b", "foo")  # created, no label: not injected
        + _pod("c", "foo", "{app: c, sidecar.istio.io/inject: 'true'}")  # kube-inject's label
        + _pod("d", "on")
        + _pod("e", "off")  # created by a Namespace document in the same change
        + "apiVersion: v1\nkind: Namespace\n"
        + "metadata: {name: off, labels: {istio-injection: disabled}}\n"
    )
    assert _sidecars(text, stored) == {
        "a.default": True,
        "b.foo": False,
        "c.foo": True,
        "d.on": True,
        "e.off": False,
    }


def test_a_deployments_template_labels_decide_and_the_decision_is_kept() -> None:
    text = _deployment("web", "foo", "{app: web, sidecar.istio.io/inject: 'true'}")
    raws, parsed = parse_documents([("m.yaml", text)], namespaces={"foo": {}})
    notes: dict[str, Any] = raws[0]["metadata"]["annotations"]
    assert notes["pilotfish.io/injected"] == "true"
    assert [w.sidecar for w in parsed.manifest.workloads] == [True]
    # the stored document keeps its decision whatever the namespace says now
    again = _sidecars(_pod("b", "foo", notes="{pilotfish.io/injected: 'true'}"), {"foo": {}})
    assert again == {"b.foo": True}
    kept = _sidecars(_pod("b", "x", notes="{pilotfish.io/injected: 'false'}"), {})
    assert kept == {"b.x": False}


def test_a_pod_injected_beforehand_keeps_its_sidecar_in_any_namespace() -> None:
    """`kube-inject`'s mark (`sidecar.istio.io/status`) outlasts the namespace's labels: in
    Istio the manifest already holds the istio-proxy container, which no webhook takes out."""
    status = '{sidecar.istio.io/status: \'{"containers":["istio-proxy"]}\'}'
    off = {"off": {"istio-injection": "disabled"}, "plain": {}}
    text = _pod("a", "off", notes=status) + _pod("b", "plain", notes=status) + _pod("c", "off")
    assert _sidecars(text, off) == {"a.off": True, "b.plain": True, "c.off": False}


def test_a_gateway_keeps_its_envoy_in_a_namespace_without_injection() -> None:
    text = _pod("egress", "istio-system", "{app: egress, istio: egressgateway}") + _pod(
        "app", "istio-system"
    )
    assert _sidecars(text, {"istio-system": {}}) == {
        "app.istio-system": False,
        "egress.istio-system": True,
    }


def test_without_namespaces_nothing_is_decided_and_the_pod_annotation_rules() -> None:
    text = _pod("a", "foo") + _pod("b", "foo", notes="{sidecar.istio.io/inject: 'false'}")
    assert _sidecars(text, None) == {"a.foo": True, "b.foo": False}


def test_namespace_labels_reads_namespace_documents_only() -> None:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "on", "labels": ENABLED}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {}},
    ]
    assert namespace_labels(docs) == {"foo": {}, "on": ENABLED}


def _warnings(text: str, stored: dict[str, dict[str, str]]) -> list[str]:
    _, parsed = parse_documents([("m.yaml", text)], namespaces=stored)
    assert parsed.ok, parsed.diagnostics
    return [str(d) for d in parsed.diagnostics if d.level == "warning"]


def test_apply_warns_about_a_revision_no_webhook_serves() -> None:
    """`istio.io/rev=canary` names a revision this mesh does not run: on a Namespace and on a
    pod, `apply` says so with the file, line, object and label, and what follows from it."""
    head = (
        "label istio.io/rev=canary: this mesh runs only the revision default, so there is no "
        "injection webhook of revision 'canary'"
    )
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n  labels:\n"
    assert _warnings(namespace + "    istio.io/rev: canary\n", {}) == [
        f"m.yaml:6: Namespace foo at metadata.labels[istio.io/rev]: {head}: pods created in "
        "this namespace get no sidecar"
    ]
    both = namespace + "    istio.io/rev: canary\n    istio-injection: enabled\n"
    assert _warnings(both, {}) == [
        f"m.yaml:6: Namespace foo at metadata.labels[istio.io/rev]: {head}; the namespace's "
        "istio-injection label decides (it takes precedence)"
    ]
    pod = _deployment("web", "foo", "{app: web, istio.io/rev: canary}")
    assert _warnings(pod, {"foo": {}}) == [
        f"m.yaml:7: Deployment web at spec.template.metadata.labels[istio.io/rev]: {head}: "
        "the pod gets no sidecar"
    ]
    assert _sidecars(pod, {"foo": {}}) == {"web.foo": False}
    assert _warnings(pod, {"foo": dict(ENABLED)}) == [
        f"m.yaml:7: Deployment web at spec.template.metadata.labels[istio.io/rev]: {head}; "
        "the pod is injected all the same: Namespace label istio-injection=enabled matches"
    ]
    fine = _deployment("web", "foo", "{app: web, istio.io/rev: default}")
    assert _warnings(fine, {"foo": {}}) == []
    assert _warnings(namespace + "    istio.io/rev: default\n", {}) == []
