"""The small rules the topic analyzers share or depend on, pinned beside Istio's cases:
Kubernetes label selectors (matchLabels + matchExpressions, malformed = no match), Istio's JWT
claim header names, Gateway API bundle versions, and the injector's annotation value checks."""

from __future__ import annotations

import pytest

from pilotfish.config.analyzers.annotations import VALIDATORS
from pilotfish.config.analyzers.documents import label_selector_matches
from pilotfish.config.analyzers.kube_gateway_checks import _version
from pilotfish.config.analyzers.vs_rules import _is_claim

LABELS = {"app": "web", "istio.io/rev": "canary"}
REV = "istio.io/rev"


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (None, True),
        ({}, True),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "db"}}, False),
        ({"matchExpressions": [{"key": REV, "operator": "In", "values": ["canary"]}]}, True),
        ({"matchExpressions": [{"key": REV, "operator": "NotIn", "values": ["canary"]}]}, False),
        ({"matchExpressions": [{"key": "missing", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Bogus"}]}, False),
    ],
)  # fmt: skip
def test_label_selector(selector: object, matches: bool) -> None:
    assert label_selector_matches(selector, LABELS) is matches


@pytest.mark.parametrize(
    ("header", "claim"),
    [
        ("@request.auth.claims.sub", True),
        ("@request.auth.claims[groups]", True),
        ("@Request.Auth.Claims.sub", True),
        ("@request.auth.claims.", False),
        ("@request.auth.claims[]", False),
        ("@request.auth.claims", False),
        ("x-user", False),
    ],
)
def test_jwt_claim_header(header: str, claim: bool) -> None:
    assert _is_claim(header) is claim


def test_bundle_versions() -> None:
    assert _version("v1.4.1") == ((1, 4, 1), "1.4.1")
    assert _version("1.5.0-rc.1") == ((1, 5, 0), "1.5.0-rc.1")
    assert _version("v1.6") == ((1, 6, 0), "1.6.0")
    assert _version("not-a-version") is None


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        ("sidecar.istio.io/interceptionMode", "TPROXY", "redirect"),
        ("status.sidecar.istio.io/port", "15020", "70000"),
        ("readiness.status.sidecar.istio.io/periodSeconds", "10", "-1"),
        ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*", "10.0.0.1"),
        ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/8,::1/128", "10.0.0.0/33"),
        ("traffic.sidecar.istio.io/includeInboundPorts", "*", "80,http"),
        ("traffic.sidecar.istio.io/excludeOutboundPorts", "80, 443", "80;443"),
        ("prometheus.istio.io/merge-metrics", "True", "yes"),
        ("sidecar.istio.io/proxyCPU", "100m", "100 m"),
        ("proxy.istio.io/config", "{holdApplicationUntilProxyStarts: true}", "[a"),
    ],
)
def test_annotation_values(annotation: str, good: str, bad: str) -> None:
    check = VALIDATORS[annotation]
    check(good)
    with pytest.raises(ValueError):
        check(bad)
