"""Table tests of Istio's semantic rules for security.istio.io kinds, with exact messages."""

from __future__ import annotations

import textwrap

import pytest

from pilotfish.config import load

HEADER = "apiVersion: security.istio.io/v1\nkind: {kind}\nmetadata:\n  name: x\nspec:\n"


def diagnostics(kind: str, spec: str) -> list[str]:
    text = HEADER.format(kind=kind) + textwrap.indent(textwrap.dedent(spec), "  ")
    return [str(d) for d in load(text, "s.yaml").diagnostics]


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("AuthorizationPolicy", "{}\n"),  # allow-nothing policy
        (
            "AuthorizationPolicy",
            "action: DENY\nrules:\n- from: [{source: {notNamespaces: [prod]}}]\n"
            "  to: [{operation: {methods: [POST], ports: ['8080']}}]\n"
            "  when: [{key: 'request.auth.claims[iss]', values: [a]}]\n",
        ),
        ("PeerAuthentication", "mtls: {mode: STRICT}\n"),
        (
            "PeerAuthentication",
            "selector: {matchLabels: {app: r}}\nportLevelMtls: {'8080': {mode: DISABLE}}\n",
        ),
        (
            "RequestAuthentication",
            "jwtRules:\n- issuer: https://issuer.example.com\n"
            "  jwksUri: https://issuer.example.com/jwks\n",
        ),
    ],
)
def test_valid(kind: str, spec: str) -> None:
    assert diagnostics(kind, spec) == []


CASES = [
    (
        "AuthorizationPolicy",
        "action: DENY\n",
        [(5, "spec.rules", "DENY action requires at least one rule")],
    ),
    (
        "AuthorizationPolicy",
        "action: CUSTOM\nrules: [{}]\n",
        [(5, "spec.provider", "provider must be specified for CUSTOM action")],
    ),
    (
        "AuthorizationPolicy",
        "rules:\n- to: [{operation: {ports: ['99999']}}]\n",
        [(7, "spec.rules[0].to[0].operation.ports[0]", 'invalid port "99999"')],
    ),
    (
        "PeerAuthentication",
        "portLevelMtls: {'8080': {mode: DISABLE}}\n",
        [(6, "spec.portLevelMtls", "portLevelMtls requires a workload selector")],
    ),
    (
        "RequestAuthentication",
        "jwtRules:\n- jwks: '{}'\n  jwksUri: ftp://x\n",
        [
            (7, "spec.jwtRules[0]", "only one of jwks and jwksUri may be set"),
            (8, "spec.jwtRules[0].jwksUri", 'invalid jwksUri "ftp://x"'),
            (7, "spec.jwtRules[0].jwks", "jwks parse error: every key needs a kty"),
        ],
    ),
]


@pytest.mark.parametrize(("kind", "spec", "expected"), CASES)
def test_rule(kind: str, spec: str, expected: list[tuple[int, str, str]]) -> None:
    assert diagnostics(kind, spec) == [
        f"s.yaml:{line}: {kind} default/x at {path}: {message}" for line, path, message in expected
    ]
