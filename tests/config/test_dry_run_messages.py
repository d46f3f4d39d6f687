"""Istio's messages for the `istio.io/dry-run` annotation (pkg/config/validation's
checkDryRunAnnotation), word for word: the object named namespace/name, the action as Go prints
it (a number naming no action: that number), Go's ParseBool error for a value that is no
boolean; on a kind other than AuthorizationPolicy the annotation is refused."""

from __future__ import annotations

import pytest

from pilotfish.config import load

POLICY = """apiVersion: security.istio.io/v1
kind: {kind}
metadata:
  name: ratings
  namespace: shop
  annotations: {{istio.io/dry-run: "{value}"}}
spec: {spec}
"""


@pytest.mark.parametrize(
    ("kind", "value", "spec", "message"),
    [
        (
            "AuthorizationPolicy", "maybe", "{action: DENY, rules: [{}]}",
            "shop/ratings has annotation istio.io/dry-run with invalid value (maybe): "
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            "AuthorizationPolicy", "true", "{action: AUDIT, rules: [{}]}",
            "the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found "
            "action AUDIT in shop/ratings",
        ),
        (
            "AuthorizationPolicy", "true", "{action: 7, rules: [{}]}",
            "the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found "
            "action 7 in shop/ratings",
        ),
        (
            "RequestAuthentication", "true", "{}",
            "shop/ratings has unsupported annotation istio.io/dry-run, please remove the "
            "annotation",
        ),
    ],
)  # fmt: skip
def test_dry_run_messages_are_istios(kind: str, value: str, spec: str, message: str) -> None:
    result = load(POLICY.format(kind=kind, value=value, spec=spec), "p.yaml")
    assert [(e.path, e.message) for e in result.errors] == [
        ("metadata.annotations.istio.io/dry-run", message)
    ]


def test_a_boolean_dry_run_on_allow_is_accepted() -> None:
    text = POLICY.format(kind="AuthorizationPolicy", value="T", spec="{action: ALLOW}")
    assert load(text, "p.yaml").ok
