"""A push context groups its configs by kind from the one it replaces (`model.kind_groups`):
a kind holding the very same objects keeps its sorted tuple and what was derived from it alone
(the DestinationRule index); a kind with one object replaced, added or removed is grouped and
sorted again, so a changed rule or VirtualService is what the new push context answers with.
And the cheap document filters (`manifest_docs`, `gateway_api_docs`) pick what the checks they
stand for pick."""

from __future__ import annotations

from typing import Any

from tests.model.test_push_context import REVIEWS, rule, service

from pilotfish.config import load
from pilotfish.config.doc_filters import gateway_api_docs, manifest_docs
from pilotfish.config.kinds import (
    DESTINATION_RULE,
    VIRTUAL_SERVICE,
    is_gateway_api_doc,
    is_manifest_kind,
)
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot


def _objects(*docs: str) -> list[Any]:
    result = load("---\n".join(docs), "c.yaml")
    assert result.ok, result.errors
    return list(result.objects)


def _next(last: PushContext, configs: list[Any]) -> PushContext:
    return PushContext(RegistrySnapshot(), tuple(configs), last.mesh, None, None, last)


def test_an_unchanged_kind_keeps_its_tuple_and_index_and_a_changed_one_is_grouped_again() -> None:
    rules = _objects(rule("b", "reviews"), rule("a", "ratings"))
    services = _objects(service("reviews", "reviews"), service("details", "details"))
    first = PushContext(RegistrySnapshot(), tuple(rules + services))
    assert [r.meta.name for r in first.kind(DESTINATION_RULE)] == ["a", "b"]
    assert first.destination_rule(REVIEWS, "default") is rules[0]

    moved = _objects(service("reviews", "reviews, ratings"))[0]  # one VirtualService replaced
    second = _next(first, [*rules, moved, services[1]])
    assert second.kind(DESTINATION_RULE) is first.kind(DESTINATION_RULE)
    assert second.destination_rule(REVIEWS, "default") is rules[0]
    assert second.rule_index is first.rule_index
    assert second.kind(VIRTUAL_SERVICE) == (services[1], moved)  # sorted again: details first
    assert second.mesh_virtual_service("ratings.default.svc.cluster.local", "default") is moved

    changed = _objects(rule("b", "reviews", export="."))[0]  # one rule replaced: index again
    third = _next(second, [rules[1], changed, moved, services[1]])
    assert third.kind(VIRTUAL_SERVICE) is second.kind(VIRTUAL_SERVICE)
    assert third.kind(DESTINATION_RULE) == (rules[1], changed)
    assert third.rule_index is not second.rule_index
    assert third.destination_rule(REVIEWS, "default") is changed
    assert third.destination_rule(REVIEWS, "other") is None  # exported to its namespace only

    fourth = _next(third, [rules[1], moved, services[1]])  # removed
    assert fourth.kind(DESTINATION_RULE) == (rules[1],)
    assert fourth.destination_rule(REVIEWS, "default") is None
    same = _next(fourth, [rules[1], services[1], moved])  # the same objects, another order
    assert same.kind(VIRTUAL_SERVICE) == fourth.kind(VIRTUAL_SERVICE)


def test_the_document_filters_pick_what_their_checks_pick() -> None:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Service"},
        {"apiVersion": "v1", "kind": "VirtualService"},
        {"apiVersion": "networking.istio.io/v1", "kind": "Service"},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute"},
        {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "Gateway"},
        {"apiVersion": "gateway.networking.k8s.io/v1/x", "kind": "Gateway"},
        {"apiVersion": "gateway.networking.k8s.io", "kind": "Gateway"},
        {"apiVersion": "pilotfish.io/v1alpha1", "kind": "Workload"},
        {"apiVersion": 1, "kind": ["Service"]},
        {"kind": "Namespace"},
        {"apiVersion": "v1", "kind": "Namespace"},
        {},
    ]
    manifest = [d for d in docs if is_manifest_kind(str(d.get("apiVersion")), str(d.get("kind")))]
    assert manifest_docs(docs) == manifest and len(manifest) == 3
    gateway_api = [d for d in docs if is_gateway_api_doc(d)]
    assert gateway_api_docs(docs) == gateway_api and len(gateway_api) == 2
