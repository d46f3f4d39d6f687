"""`model`: the questions translation and the CLI both ask of config + registry (`PushContext`),
and the `Proxy` <-> Envoy node codec, without translating anything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pilotfish.config import load
from pilotfish.config.kinds import DESTINATION_RULE, VIRTUAL_SERVICE
from pilotfish.config.objects import AnyConfig
from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import (
    Protocol,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)

NET = "apiVersion: networking.istio.io/v1\n"


def push_of(*docs: str) -> PushContext:
    result = load("---\n".join(docs), "c.yaml")
    assert result.ok, result.errors
    return PushContext(registry=RegistrySnapshot(), configs=tuple(result.objects))


def rule(name: str, host: str, namespace: str = "default", export: str = "") -> str:
    export_to = f", exportTo: [{export}]" if export else ""
    return (
        f"{NET}kind: DestinationRule\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{host: '{host}'{export_to}}}\n"
    )


def service(name: str, hosts: str, gateways: str = "") -> str:
    bound = f", gateways: [{gateways}]" if gateways else ""
    return (
        f"{NET}kind: VirtualService\nmetadata: {{name: {name}}}\n"
        f"spec: {{hosts: [{hosts}]{bound}, http: [{{route: [{{destination: {{host: r}}}}]}}]}}\n"
    )


REVIEWS = "reviews.default.svc.cluster.local"


def test_kind_is_sorted_and_typed() -> None:
    push = push_of(rule("b", "b"), rule("a", "a"), service("vs", "reviews"))
    rules = push.kind(DESTINATION_RULE)
    assert [r.meta.name for r in rules] == ["a", "b"]
    assert [r.spec.host for r in rules] == ["a", "b"]  # DestinationRuleSpec fields, typed
    assert [v.spec.hosts for v in push.kind(VIRTUAL_SERVICE)] == [("reviews",)]


def test_a_recording_inside_another_ends_itself_even_when_they_read_the_same() -> None:
    """What a `Carry` unit reads is recorded into it and every unit around it: a unit built
    inside another, having read what the outer one has so far, ends its own recording (the
    outer one's later reads are still its own; fails if recordings end by equality)."""
    push = push_of(rule("a", "a.default.svc.cluster.local"))
    outer: dict[str, tuple[AnyConfig, ...]] = {}
    inner: dict[str, tuple[AnyConfig, ...]] = {}
    push.record_into(outer)
    push.record_into(inner)
    push.stop_recording(inner)
    push.kind(DESTINATION_RULE)
    push.stop_recording(outer)
    assert list(outer) == [DESTINATION_RULE] and inner == {}
    with pytest.raises(AssertionError):
        push.record_into(outer)
        push.stop_recording(inner)


def test_destination_rule_precedence() -> None:
    """The proxy's namespace, then the service's, then the root namespace; inside one, an exact
    host before a wildcard, the longer wildcard before the shorter."""
    push = push_of(
        rule("root", "*.svc.cluster.local", "istio-system"),
        rule("wide", "*.cluster.local"),
        rule("narrow", "*.default.svc.cluster.local"),
        rule("exact", "reviews"),
        rule("mine", "*", "client"),
    )
    found = push.destination_rule(REVIEWS, "default", "default")
    assert found is not None and found.meta.name == "exact"
    other = push.destination_rule("ratings.default.svc.cluster.local", "default", "default")
    assert other is not None and other.meta.name == "narrow"
    mine = push.destination_rule(REVIEWS, "client", "default")
    assert mine is not None and mine.meta.name == "mine"
    assert push.has_own_rule(REVIEWS, "client") and not push.has_own_rule(REVIEWS, "elsewhere")
    root = push.destination_rule("x.other.svc.cluster.local", "elsewhere", "other")
    assert root is not None and root.meta.name == "root"


def test_destination_rule_honours_export_to() -> None:
    push = push_of(rule("private", "reviews", export="."))
    assert push.destination_rule(REVIEWS, "default", "default") is not None
    assert push.destination_rule(REVIEWS, "client", "other") is None


def test_mesh_virtual_service_skips_gateway_only_ones() -> None:
    push = push_of(
        service("at-gateway", "reviews", gateways="gw"),
        service("wildcard", "'*.default.svc.cluster.local'"),
        service("exact", "reviews", gateways="mesh"),
    )
    found = push.mesh_virtual_service(REVIEWS, "default")
    assert found is not None and found.meta.name == "exact"
    assert [v.meta.name for v in push.mesh_virtual_services()] == ["exact", "wildcard"]
    other = push.mesh_virtual_service("ratings.default.svc.cluster.local", "default")
    assert other is not None and other.meta.name == "wildcard"
    assert push.mesh_virtual_service("x.other.svc.cluster.local", "default") is None


def test_mesh_virtual_service_by_namespace_only_when_one_is_not_exported_everywhere() -> None:
    """The VirtualService a host gets is asked once per host while every one is exported to
    every namespace, and per namespace as soon as one is not (its own namespace sees it)."""
    open_push = push_of(service("everyone", "reviews"))
    for namespace in ("default", "client", "other"):
        found = open_push.mesh_virtual_service(REVIEWS, namespace)
        assert found is not None and found.meta.name == "everyone"
    private = service("mine", "reviews").replace("spec: {", "spec: {exportTo: ['.'], ")
    push = push_of(private)
    found = push.mesh_virtual_service(REVIEWS, "default")
    assert found is not None and found.meta.name == "mine"
    assert push.mesh_virtual_service(REVIEWS, "client") is None
    assert push.mesh_virtual_service(REVIEWS, "default") is found


def test_equal_services_of_the_push_context_before_are_kept() -> None:
    """A push context built with the services of the one before (`previous_services`) keeps
    those very objects when they are equal (what translation keyed on their identity stays
    valid), and its own when they differ."""
    reviews = Service("reviews", "default", (ServicePort("http", 9080, Protocol.HTTP, 9080),))
    first = PushContext(RegistrySnapshot((reviews,)))
    same = PushContext(
        RegistrySnapshot((replace(reviews),)), previous_services=first.registry.services
    )
    assert same.registry.services is first.registry.services
    assert same.registry.service(reviews.hostname) is reviews
    moved = replace(reviews, ports=(ServicePort("http", 9081, Protocol.HTTP, 9081),))
    other = PushContext(RegistrySnapshot((moved,)), previous_services=first.registry.services)
    assert other.registry.services == (moved,) and other.registry.services[0] is moved


def test_the_registry_memo_is_shared_while_services_and_instances_are_the_same() -> None:
    """A push context replacing one of the very same services and instances (a change of
    config objects only) takes its `registry_memo`: endpoints are not looked up again; new
    instances (or services) start a memo of their own, with their endpoints."""
    reviews = Service(
        "reviews", "default", (ServicePort("http", 9080, Protocol.HTTP, 9080),), (("app", "r"),)
    )
    one = WorkloadInstance("reviews-0", "reviews", "default", "127.1.0.2", (("app", "r"),))
    first = PushContext(RegistrySnapshot((reviews,), (one,)))
    found = first.endpoints(reviews, reviews.ports[0])
    assert [e.address for e in found] == ["127.1.0.2"]
    rules = push_of(rule("r", "reviews")).configs
    again = PushContext(first.registry, rules, previous=first)
    assert again.registry_memo is first.registry_memo
    assert again.endpoints(reviews, reviews.ports[0]) is found
    two = (one, replace(one, name="reviews-1", address="127.1.0.3"))
    scaled = PushContext(RegistrySnapshot((reviews,), two), rules, previous=again)
    assert scaled.registry_memo is not again.registry_memo
    assert [e.address for e in scaled.endpoints(reviews, reviews.ports[0])] == [
        "127.1.0.2",
        "127.1.0.3",
    ]
    assert PushContext(first.registry).registry_memo is not first.registry_memo


@pytest.mark.parametrize(
    "proxy",
    [
        Proxy(ProxyType.SIDECAR, "127.1.0.5", "reviews-v1-0", "default", (("app", "reviews"),),
              "reviews-v1", "bookinfo-reviews", "", 15001, ((9080, 40123),)),
        Proxy(ProxyType.ROUTER, "127.1.0.9", "istio-ingressgateway-0", "istio-system",
              (("istio", "ingressgateway"),), gateway_address="127.255.0.1"),
    ],
)  # fmt: skip
def test_node_codec_round_trips(proxy: Proxy) -> None:
    assert proxy_from_node(proxy.id, node_metadata(proxy)) == proxy


def test_gateway_is_known_by_type_or_label() -> None:
    assert Proxy(ProxyType.ROUTER, "127.0.0.1", "gw-0", "ns").is_gateway
    egress = Proxy(ProxyType.SIDECAR, "127.0.0.1", "eg-0", "ns", (("istio", "egressgateway"),))
    assert egress.is_gateway
    assert not Proxy(ProxyType.SIDECAR, "127.0.0.1", "app-0", "ns").is_gateway


def test_a_foreign_node_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed node id"):
        proxy_from_node("not-a-node", {})
