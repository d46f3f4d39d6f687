"""Host matching, the one implementation (`config.hosts`), under its two rules: "domain" (what
translation and the UI use, as Envoy matches domains) and "name" (what validation and the
analyzers use, as Istio's `host.Name` compares config hosts). The cases where the rules disagree
are the ones the analyzers' former copy (case-sensitive, only `*.` wildcards) got wrong or right,
pinned here through `pilotfish analyze` as well, so its answers stay Istio's."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.hosts import host_matches, hosts_overlap, intersect

BOTH = [
    # (pattern, host, covered)
    ("*", "reviews.default.svc.cluster.local", True),
    ("*", "*.example.com", True),
    ("a.example.com", "a.example.com", True),
    ("a.example.com", "b.example.com", False),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "a.b.example.com", True),
    ("*.example.com", "*.a.example.com", True),
    ("*.a.example.com", "*.example.com", False),
    ("*.example.com", "example.com", False),
    ("a.example.com", "*.example.com", False),
    ("*bar.com", "foobar.com", True),  # a partial wildcard: Istio allows `*foo` first labels
]


@pytest.mark.parametrize("rule", ["domain", "name"])
@pytest.mark.parametrize(("pattern", "host", "covered"), BOTH)
def test_rules_agree(pattern: str, host: str, covered: bool, rule: str) -> None:
    assert host_matches(pattern, host, rule) is covered  # type: ignore[arg-type]


def test_domain_rule_ignores_case_name_rule_does_not() -> None:
    # Envoy matches the Host header case-insensitively; Istio's host.Name compares bytes.
    assert host_matches("Reviews.Example.com", "reviews.example.com")
    assert host_matches("*.EXAMPLE.com", "a.example.com")
    assert not host_matches("Reviews.Example.com", "reviews.example.com", "name")
    assert not host_matches("*.EXAMPLE.com", "a.example.com", "name")


def test_partial_wildcard_stands_for_nothing_only_under_the_name_rule() -> None:
    # Envoy: a wildcard never matches the empty string; Istio's SubsetOf is a plain suffix test.
    assert not host_matches("*bar.com", "bar.com")
    assert host_matches("*bar.com", "bar.com", "name")


def test_overlap_is_istio_matches() -> None:
    # host.Name.Matches: either side may be the wildcard; two wildcards overlap by suffix.
    assert hosts_overlap("a.example.com", "*.example.com", "name")
    assert hosts_overlap("*.example.com", "*.a.example.com", "name")
    assert hosts_overlap("*.a.example.com", "*.example.com", "name")
    assert not hosts_overlap("*.a.example.com", "*.b.example.com", "name")
    assert not hosts_overlap("a.example.com", "A.example.com", "name")
    assert hosts_overlap("a.example.com", "A.example.com")


def test_intersect_keeps_the_more_specific() -> None:
    assert intersect("*", "x.com") == "x.com"
    assert intersect("*.x.com", "a.x.com") == "a.x.com"
    assert intersect("a.x.com", "b.x.com") is None


NET = "apiVersion: networking.istio.io/v1\n"


def _not_found(service_entry_host: str, destination: str) -> list[str]:
    """IST0101 lines for a VirtualService routing to `destination` beside one ServiceEntry (in
    a cluster with no Service: the host analyzer reads Services, so it runs only with one)."""
    text = (
        f"{NET}kind: ServiceEntry\nmetadata: {{name: se}}\n"
        f"spec: {{hosts: ['{service_entry_host}'], ports: [{{number: 80, name: http}}]}}\n---\n"
        f"{NET}kind: VirtualService\nmetadata: {{name: vs}}\n"
        f"spec: {{hosts: [a.example.com], http: [{{route: [{{destination: "
        f"{{host: '{destination}'}}}}]}}]}}\n"
    )
    return [m.message for m in analyze(load(text, "a.yaml"), cluster=True) if m.code == "IST0101"]


@pytest.mark.parametrize(
    ("se_host", "destination", "found"),
    [
        ("*.example.com", "api.example.com", True),
        # Istio (analyzers/util GetDestinationHost) compares case-sensitively: not found
        ("API.example.com", "api.example.com", False),
        ("*.EXAMPLE.com", "api.example.com", False),
        # any leading `*` is a wildcard, not only `*.` (the former copy said not found)
        ("*example.com", "api-example.com", True),
        ("*example.com", "example.com", True),
        # a wildcard destination is found only under a wildcard entry that covers it
        ("*.example.com", "*.api.example.com", True),
        ("api.example.com", "*.example.com", False),
    ],
)
def test_analyzer_destination_lookup_is_istios(se_host: str, destination: str, found: bool) -> None:
    messages = _not_found(se_host, destination)
    expected = [] if found else [f'Referenced host not found: "{destination}"']
    assert messages == expected


def _gateway_host_mismatch(gateway_host: str, vs_host: str) -> list[str]:
    text = (
        f"{NET}kind: Gateway\nmetadata: {{name: gw}}\nspec: {{selector: "
        "{istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, "
        f"hosts: ['{gateway_host}']}}]}}\n---\n"
        f"{NET}kind: VirtualService\nmetadata: {{name: vs}}\n"
        f"spec: {{hosts: ['{vs_host}'], gateways: [gw], http: [{{directResponse: "
        "{status: 200}}]}\n"
    )
    return [m.code for m in analyze(load(text, "a.yaml"), cluster=True) if m.code == "IST0132"]


@pytest.mark.parametrize(
    ("gateway_host", "vs_host", "served"),
    [
        ("*.example.com", "a.example.com", True),
        ("a.example.com", "*.example.com", True),
        ("*.example.com", "*.a.example.com", True),
        ("*.a.example.com", "*.b.example.com", False),
        ("A.example.com", "a.example.com", False),
    ],
)
def test_gateway_analyzer_overlap_is_istios(gateway_host: str, vs_host: str, served: bool) -> None:
    assert _gateway_host_mismatch(gateway_host, vs_host) == ([] if served else ["IST0132"])
