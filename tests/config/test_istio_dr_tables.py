"""Istio's TestValidateDestinationRule (istio/istio pkg/config/validation/validation_test.go),
its subset, traffic policy and SIMPLE-mode `insecureSkipVerify` cases, written here afresh as
YAML: each is accepted or refused as Istio's webhook decides, a refusal names a field path, and
the case Istio accepts with a warning warns. 17 cases (the MUTUAL-mode ones, which also need
client certificates, are left for later)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest

from pilotfish.config import load

SUBSETS = "[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]"
POLICY = "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}}"
EMPTY_POOL = "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}"
SAN = "subjectAltNames: [reviews.default.svc]"

# fmt: off
CASES = [
    ('simple destination rule', f'{{host: reviews, subsets: {SUBSETS}}}', False),
    ('missing destination name', f"{{host: '', subsets: {SUBSETS}}}", True),
    ('missing subset name', "{host: reviews, subsets: [{name: '', labels: {version: v1}}, {name: v2, labels: {version: v2}}]}", True),
    ('duplicate subset names', '{host: reviews, subsets: [{name: foo, labels: {version: v1}}, {name: foo, labels: {version: v2}}]}', True),
    ('valid traffic policy, top level', f'{{host: reviews, trafficPolicy: {POLICY}, subsets: {SUBSETS}}}', False),
    ('invalid traffic policy, top level', f'{{host: reviews, trafficPolicy: {EMPTY_POOL}, subsets: {SUBSETS}}}', True),
    ('valid traffic policy, subset level', f'{{host: reviews, subsets: [{{name: v1, labels: {{version: v1}}, trafficPolicy: {POLICY}}}, {{name: v2, labels: {{version: v2}}}}]}}', False),
    ('invalid traffic policy, subset level', f'{{host: reviews, subsets: [{{name: v1, labels: {{version: v1}}, trafficPolicy: {EMPTY_POOL}}}, {{name: v2, labels: {{version: v2}}}}]}}', True),
    ('valid traffic policy, both levels', f'{{host: reviews, trafficPolicy: {POLICY}, subsets: [{{name: v1, labels: {{version: v1}}, trafficPolicy: {POLICY.replace("20", "30")}}}, {{name: v2, labels: {{version: v2}}}}]}}', False),
    ('skip verify unset, simple, caCertificates', f'{{host: reviews, trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: test, {SAN}}}}}}}', False),
    ('skip verify unset, simple, credentialName', f'{{host: reviews, trafficPolicy: {{tls: {{mode: SIMPLE, credentialName: test, {SAN}}}}}}}', False),
    ('skip verify false, simple, caCertificates', f'{{host: reviews, trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: test, {SAN}, insecureSkipVerify: false}}}}}}', False),
    ('skip verify false, simple, credentialName', f'{{host: reviews, trafficPolicy: {{tls: {{mode: SIMPLE, credentialName: test, {SAN}, insecureSkipVerify: false}}}}}}', False),
    ('skip verify true, simple, credentialName', '{host: reviews, trafficPolicy: {tls: {mode: SIMPLE, credentialName: test, insecureSkipVerify: true}}}', True),
    ('skip verify true, simple, caCertificates', '{host: reviews, trafficPolicy: {tls: {mode: SIMPLE, caCertificates: test, insecureSkipVerify: true}}}', True),
    ('skip verify true, simple, subjectAltNames', f'{{host: reviews, trafficPolicy: {{tls: {{mode: SIMPLE, {SAN}, insecureSkipVerify: true}}}}}}', True),
]
WARNED = [
    ('simple destination rule with empty selector labels', f'{{host: reviews, subsets: {SUBSETS}, workloadSelector: {{}}}}'),
]
# fmt: on


def _load(spec: str) -> tuple[bool, list[str], list[str]]:
    text = f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: dr}}\nspec: {spec}\n"
    result = load(text, "dr.yaml")
    assert all(d.path.startswith("spec") for d in result.errors), [str(d) for d in result.errors]
    return not result.ok, [str(d) for d in result.errors], [str(d) for d in result.warnings]


@pytest.mark.parametrize(("name", "spec", "istio_refuses"), CASES, ids=[c[0] for c in CASES])
def test_destination_rule_decided_as_istio(name: str, spec: str, istio_refuses: bool) -> None:
    refused, errors, _ = _load(spec)
    assert refused == istio_refuses, errors


@pytest.mark.parametrize(("name", "spec"), WARNED, ids=[c[0] for c in WARNED])
def test_destination_rule_accepted_with_a_warning(name: str, spec: str) -> None:
    refused, errors, warnings = _load(spec)
    assert not refused and warnings, (errors, warnings)
