"""Istio's DestinationRule, Gateway, ServiceEntry and label rules read from its code where its
tables have no case (pkg/config/validation: validateLoadBalancer, validateOutlierDetection,
ValidateGateway, ValidateServiceEntry; pkg/config/labels: Instance.Validate; pkg/config/protocol:
Parse; commit 86c9f01), written here as YAML. Before these rules 9 were decided differently: a
cookie TTL of 0s (a session cookie), a negative deprecated consecutiveErrors (Istio: a warning),
a label value over 63 characters in a subset and a REDIS gateway port refused; a label key with
two slashes, a ServiceEntry with several hosts on a TCP or unset-protocol port (DNS, STATIC), an
unknown ServiceEntry port protocol and a DNS endpoint with no address accepted; `from: []` refused
(Istio's reader leaves the list unset) and a DENY rule of HTTP attributes only not warned."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

from pilotfish.config import load
from pilotfish.config.ciphers import filter_cipher_suites

# fmt: off
D, G = "DestinationRule", "Gateway"
def lb(hashing: str) -> str:
    return "{host: r, trafficPolicy: {loadBalancer: {consistentHash: " + hashing + "}}}"
SERVER = "{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}"
POLICIES: list[Case] = [
 ("cookie ttl 0s", D, lb("{httpCookie: {name: a, ttl: 0s}}"), False),
 ("cookie ttl not a duration", D, lb("{httpCookie: {name: a, ttl: soon}}"), True),
 ("minimumRingSize (a warning)", D, lb("{minimumRingSize: 10, httpHeaderName: x}"), False),
 ("minimumRingSize with maglev", D, lb("{minimumRingSize: 10, maglev: {tableSize: 7}, httpHeaderName: x}"), True),
 ("consecutiveErrors negative (a warning)", D, "{host: r, trafficPolicy: {outlierDetection: {consecutiveErrors: -5}}}", False),
 ("subset label key with two slashes", D, "{host: r, subsets: [{name: a, labels: {'a/b/c': x}}]}", True),
 ("subset label key with a prefix", D, "{host: r, subsets: [{name: a, labels: {'example.com/tier': x}}]}", False),
 ("subset label value of 70 characters", D, "{host: r, subsets: [{name: a, labels: {tier: " + "x" * 70 + "}}]}", False),
 ("subset label value with a space", D, "{host: r, subsets: [{name: a, labels: {tier: 'a b'}}]}", True),
 ("gateway duplicate port name", G, "{selector: {istio: ingressgateway}, servers: [" + SERVER + ", " + SERVER.replace("80,", "81,") + "]}", True),
]
# fmt: on


@pytest.mark.parametrize("case", POLICIES, ids=ids(POLICIES))
def test_policy_rules_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize(
    ("kind", "spec", "path", "message", "level"),
    [
        (
            D,
            lb("{minimumRingSize: 10, httpHeaderName: x}"),
            "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
            "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
            "warning",
        ),
        (
            D,
            "{host: r, trafficPolicy: {outlierDetection: {consecutiveErrors: 5}}}",
            "spec.trafficPolicy.outlierDetection.consecutiveErrors",
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
            "warning",
        ),
        (
            D,
            "{host: r, subsets: [{name: a, labels: {'a/b/c': x}}]}",
            "spec.subsets[0].labels.a/b/c",
            'invalid tag key: "a/b/c"',
            "error",
        ),
        (
            G,
            "{selector: {istio: ingressgateway}, servers: ["
            + SERVER
            + ", "
            + SERVER.replace("80,", "81,")
            + "]}",
            "spec.servers[1].port.name",
            "port names in servers must be unique: duplicate name http",
            "error",
        ),
    ],
)
def test_policy_rules_say_istios_message(
    kind: str, spec: str, path: str, message: str, level: str
) -> None:
    text = (
        f"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata: {{name: r}}\nspec: {spec}\n"
    )
    found = [(d.path, d.message, d.level) for d in load(text, "p.yaml").diagnostics]
    assert (path, message, level) in found, found


# fmt: off
X = "ServiceEntry"
HTTP_PORT = "ports: [{number: 80, name: http, protocol: HTTP}]"
SERVICE_ENTRIES: list[Case] = [
 ("se two hosts, TCP port, DNS", X, "{hosts: [a.com, b.com], ports: [{number: 80, name: tcp, protocol: TCP}], resolution: DNS}", True),
 ("se two hosts, unset protocol, STATIC", X, "{hosts: [a.com, b.com], ports: [{number: 80, name: tcp}], resolution: STATIC}", True),
 ("se two hosts, TCP port, NONE", X, "{hosts: [a.com, b.com], ports: [{number: 80, name: tcp, protocol: TCP}]}", False),
 ("se two hosts, HTTP and TLS ports, DNS", X, "{hosts: [a.com, b.com], ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}], resolution: DNS}", False),
 ("se unknown protocol", X, "{hosts: [a.com], ports: [{number: 80, name: p, protocol: FOO}], resolution: DNS}", True),
 ("se lower-case protocol", X, "{hosts: [a.com], ports: [{number: 80, name: p, protocol: http}], resolution: DNS}", False),
 ("se NONE with a workload selector (a warning)", X, "{hosts: [a.com], " + HTTP_PORT + ", workloadSelector: {labels: {app: x}}}", False),
 ("se STATIC endpoint with a network only (a warning)", X, "{hosts: [a.com], " + HTTP_PORT + ", resolution: STATIC, endpoints: [{network: n1}]}", False),
 ("se DNS endpoint with a network only", X, "{hosts: [a.com], " + HTTP_PORT + ", resolution: DNS, endpoints: [{network: n1}]}", True),
 ("gateway REDIS port", G, "{selector: {istio: ingressgateway}, servers: [{port: {number: 6379, name: redis, protocol: REDIS}, hosts: ['*']}]}", False),
 ("gateway port with no protocol", G, "{selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: p}, hosts: ['*']}]}", True),
]
# fmt: on


@pytest.mark.parametrize("case", SERVICE_ENTRIES, ids=ids(SERVICE_ENTRIES))
def test_service_entry_and_protocol_rules_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


# fmt: off
A = "AuthorizationPolicy"
AUTHZ: list[Case] = [
 ("deny with HTTP attributes only (a warning)", A, "{action: DENY, rules: [{to: [{operation: {methods: [GET]}}]}]}", False),
 ("from [] is unset", A, "{rules: [{from: [], to: [{operation: {methods: [GET]}}]}]}", False),
]
# fmt: on


@pytest.mark.parametrize("case", AUTHZ, ids=ids(AUTHZ))
def test_authorization_rules_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize(
    ("rule", "warned"),
    [
        ("{to: [{operation: {methods: [GET]}}]}", True),
        ("{to: [{operation: {methods: [GET], ports: ['80']}}]}", False),
        ("{from: [{source: {requestPrincipals: ['*']}}]}", True),
        ("{from: [{source: {namespaces: [a]}}]}", False),
        ("{from: [{source: {namespaces: [a]}}], to: [{operation: {paths: [/a]}}]}", True),
        ("{when: [{key: source.ip, values: [1.2.3.4]}]}", False),
    ],
)
def test_a_deny_rule_of_http_attributes_only_is_warned_as_istio_does(
    rule: str, warned: bool
) -> None:
    text = f"apiVersion: security.istio.io/v1\nkind: {A}\nmetadata: {{name: r}}\nspec: {{action: DENY, rules: [{rule}]}}\n"
    result = load(text, "a.yaml")
    assert result.ok
    assert [d.path for d in result.warnings if "TCP ports" in d.message] == (
        ["spec.rules[0]"] if warned else []
    )


@pytest.mark.parametrize(
    ("hosts", "warnings"),
    [
        (
            "['ns/a.com', 'ns/a.com']",
            [("spec.egress[0].hosts[1]", "duplicated egress host: ns/a.com")],
        ),
        ("['ns/*', 'ns/a.com']", [("spec.egress[0].hosts[1]", "duplicated egress host: ns/a.com")]),
        ("['ns/a.com', 'ns/*']", [("spec.egress[0].hosts[1]", "duplicated egress host: ns/*")]),
        (
            "['*/*', 'ns/a.com']",
            [
                (
                    "spec.egress[0].hosts",
                    "`*/*` host select all resources, no other hosts can be added",
                )
            ],
        ),
        ("['./a.com', 'istio-system/*', '~/b.com', '~/b.com']", []),
    ],
)
def test_sidecar_egress_hosts_warned_as_istio_does(
    hosts: str, warnings: list[tuple[str, str]]
) -> None:
    text = f"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: s}}\nspec: {{egress: [{{hosts: {hosts}}}]}}\n"
    result = load(text, "s.yaml")
    assert result.ok
    assert [(d.path, d.message) for d in result.warnings] == warnings


HTTPS = "{selector: {istio: ingressgateway}, servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: %s}]}"


@pytest.mark.parametrize(
    ("tls", "warnings"),
    [
        (
            "{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_1}",
            [
                (
                    "spec.servers[0].tls.minProtocolVersion",
                    "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
                )
            ],
        ),
        (
            "{mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_1, cipherSuites: [AES128-SHA]}",
            [],
        ),
        (
            "{mode: SIMPLE, credentialName: c, cipherSuites: [FOO, AES128-SHA, AES128-SHA, '-AES', ALL]}",
            [
                ("spec.servers[0].tls.cipherSuites", "ignoring invalid cipher suites: [FOO]"),
                (
                    "spec.servers[0].tls.cipherSuites",
                    "ignoring duplicate cipher suites: [AES128-SHA]",
                ),
            ],
        ),
        (
            "{mode: PASSTHROUGH, credentialName: c}",
            [
                (
                    "spec.servers[0].tls",
                    "PASSTHROUGH mode does not use certificates, they will be ignored",
                )
            ],
        ),
        (
            "{credentialName: c}",
            [
                (
                    "spec.servers[0].tls",
                    "PASSTHROUGH mode does not use certificates, they will be ignored",
                )
            ],
        ),
    ],
)
def test_gateway_tls_warned_as_istio_does(tls: str, warnings: list[tuple[str, str]]) -> None:
    text = f"apiVersion: networking.istio.io/v1\nkind: {G}\nmetadata: {{name: g}}\nspec: {HTTPS % tls}\n"
    result = load(text, "g.yaml")
    assert result.ok, [str(d) for d in result.errors]
    assert [(d.path, d.message) for d in result.warnings] == warnings


def test_translation_drops_the_cipher_suites_istio_ignores() -> None:
    """What validation warns about is what translation leaves out, so Envoy never NACKs."""
    assert filter_cipher_suites(["FOO", "AES128-SHA", "AES128-SHA", "-AES", "ALL", ""]) == [
        "AES128-SHA", "-AES", "ALL", "",
    ]  # fmt: skip
    assert filter_cipher_suites([]) == []


def test_a_credential_beside_a_lone_certificate_file_is_accepted() -> None:
    """Istio's webhook counts certificate files as a source only when both are set."""
    text = f"apiVersion: networking.istio.io/v1\nkind: {G}\nmetadata: {{name: g}}\nspec: {HTTPS % '{mode: SIMPLE, credentialName: c, serverCertificate: /a}'}\n"
    assert load(text, "g.yaml").ok
