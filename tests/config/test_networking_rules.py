"""Table tests of Istio's semantic rules for networking kinds: each case is a spec fragment and
the exact diagnostics it must produce (file:line, kind, name, path, message)."""

from __future__ import annotations

import textwrap

import pytest

from pilotfish.config import load

HEADER = "apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata:\n  name: x\nspec:\n"


def diagnostics(kind: str, spec: str) -> list[str]:
    text = HEADER.format(kind=kind) + textwrap.indent(textwrap.dedent(spec), "  ")
    return [str(d) for d in load(text, "c.yaml").diagnostics]


VALID = [
    ("VirtualService", "hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews}\n"),
    (
        "VirtualService",
        "hosts: ['*.example.com']\ngateways: [istio-system/gw, mesh]\nhttp:\n"
        "- match: [{uri: {regex: '^/api/[a-z]+$'}}]\n  route:\n"
        "  - destination: {host: a, subset: v1}\n    weight: 90\n"
        "  - destination: {host: b, port: {number: 9080}}\n    weight: 10\n"
        "  timeout: 1.5s\n  retries: {attempts: 2, perTryTimeout: 500ms}\n",
    ),
    ("VirtualService", "http:\n- route:\n  - destination: {host: reviews}\n"),  # delegate
    (
        "DestinationRule",
        "host: reviews\ntrafficPolicy:\n  loadBalancer: {simple: ROUND_ROBIN}\n"
        "  outlierDetection: {interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}\n"
        "subsets:\n- name: v1\n  labels: {version: v1}\n- name: v2\n  labels: {version: v2}\n",
    ),
    (
        "Gateway",
        "selector: {istio: ingressgateway}\nservers:\n"
        "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*']\n"
        "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: [ns1/bookinfo.com]\n"
        "  tls: {mode: SIMPLE, credentialName: bookinfo-cert}\n",
    ),
    (
        "ServiceEntry",
        "hosts: [api.example.com]\nports: [{number: 443, name: https, protocol: TLS}]\n"
        "resolution: DNS\nlocation: MESH_EXTERNAL\n",
    ),
]


@pytest.mark.parametrize(("kind", "spec"), VALID)
def test_valid_specs_have_no_diagnostics(kind: str, spec: str) -> None:
    assert diagnostics(kind, spec) == []


P = "c.yaml:{line}: {kind} default/x at {path}: {message}"
CASES = [
    (
        "negative weight",
        "VirtualService",
        "hosts: [r]\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 100\n"
        "  - destination: {host: b}\n    weight: -1\n",
        [(12, "spec.http[0].route[1].weight", "weight -1 < 0")],
    ),
    (
        "all weights zero",
        "VirtualService",
        "hosts: [r]\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 0\n"
        "  - destination: {host: b}\n    weight: 0\n",
        [(8, "spec.http[0].route", "total destination weight = 0")],
    ),
    (
        "weights summing to zero (Istio adds them up)",
        "VirtualService",
        "hosts: [r]\nhttp:\n- route:\n  - destination: {host: a}\n    weight: 5\n"
        "  - destination: {host: b}\n    weight: -5\n",
        [
            (12, "spec.http[0].route[1].weight", "weight -5 < 0"),
            (8, "spec.http[0].route", "total destination weight = 0"),
        ],
    ),
    (
        "lookahead regex",
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{uri: {regex: '^/(?!admin)'}}]\n"
        "  route: [{destination: {host: a}}]\n",
        [
            (
                8,
                "spec.http[0].match[0].uri.regex",
                '"^/(?!admin)" is not a valid RE2 regex: lookaround assertions are not supported by RE2',  # noqa: E501
            )
        ],
    ),
    (
        "backreference regex in header",
        "VirtualService",
        "hosts: [r]\nhttp:\n- match:\n  - headers:\n      x-id: {regex: '(a)\\1'}\n"
        "  route: [{destination: {host: a}}]\n",
        [
            (
                10,
                "spec.http[0].match[0].headers.x-id.regex",
                '"(a)\\1" is not a valid RE2 regex: back-references are not supported by RE2',
            )
        ],
    ),
    (
        "two string match kinds",
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{uri: {exact: /a, prefix: /b}}]\n"
        "  route: [{destination: {host: a}}]\n",
        [(8, "spec.http[0].match[0].uri", "only one of exact, prefix or regex may be set")],
    ),
    (
        "wildcard in the middle of a host",
        "VirtualService",
        "hosts: ['foo.*.com']\nhttp:\n- route: [{destination: {host: a}}]\n",
        [
            (
                6,
                "spec.hosts[0]",
                'invalid host "foo.*.com": a wildcard "*" is only allowed as the leading label',
            )
        ],
    ),
    (
        "zero timeout",
        "VirtualService",
        "hosts: [r]\nhttp:\n- route: [{destination: {host: a}}]\n  timeout: 0s\n",
        [(9, "spec.http[0].timeout", "duration must be greater than 1ms")],
    ),
    (
        "bad duration text",
        "VirtualService",
        "hosts: [r]\nhttp:\n- route: [{destination: {host: a}}]\n"
        "  retries: {attempts: 2, perTryTimeout: 2}\n",
        [(9, "spec.http[0].retries.perTryTimeout", "must be a string, got number")],
    ),
    (
        "no routes at all",
        "VirtualService",
        "hosts: [r]\n",
        [(5, "spec", "http, tcp or tls must be provided in virtual service")],
    ),
    (
        "bad redirect code",
        "VirtualService",
        "hosts: [r]\nhttp:\n- redirect: {uri: /new, redirectCode: 200}\n",
        [
            (
                8,
                "spec.http[0].redirect.redirectCode",
                "200 is not a valid redirect code, must be 3xx",
            )
        ],
    ),
    (
        "duplicate subset name",
        "DestinationRule",
        "host: r\nsubsets:\n- name: v1\n- name: v1\n",
        [(9, "spec.subsets[1].name", 'duplicate subset name "v1"')],
    ),
    (
        "invalid subset name",
        "DestinationRule",
        "host: r\nsubsets:\n- name: V_1\n",
        [(8, "spec.subsets[0].name", "subset name is invalid: V_1")],  # Istio's words
    ),
    (
        "empty subset name and host",
        "DestinationRule",
        "host: ''\nsubsets:\n- name: ''\n",
        [
            (6, "spec.host", "empty domain name not allowed"),
            (8, "spec.subsets[0].name", "subset name cannot be empty"),
        ],
    ),
    (
        "mutual TLS without certificates",
        "DestinationRule",
        "host: r\ntrafficPolicy:\n  tls: {mode: MUTUAL}\n",
        [
            (
                8,
                "spec.trafficPolicy.tls.clientCertificate",
                "client certificate required for mutual tls",
            ),
            (8, "spec.trafficPolicy.tls.privateKey", "private key required for mutual tls"),
        ],
    ),
    (
        "gateway port out of range",
        "Gateway",
        "servers:\n- port: {number: 70000, name: http, protocol: HTTP}\n  hosts: ['*']\n",
        [(7, "spec.servers[0].port.number", "port number 70000 is out of range 1-65535")],
    ),
    (
        "gateway HTTPS without TLS",
        "Gateway",
        "servers:\n- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n",
        [(7, "spec.servers[0].tls", "server must have TLS settings for HTTPS protocol")],
    ),
    (
        "gateway duplicate port names and bad protocol",
        "Gateway",
        "servers:\n- port: {number: 80, name: web, protocol: HTTP}\n  hosts: ['*']\n"
        "- port: {number: 81, name: web, protocol: SMTP}\n  hosts: ['*']\n",
        [
            (
                9,
                "spec.servers[1].port.protocol",
                'invalid protocol "SMTP", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, '
                "MONGO, REDIS, MYSQL, TCP",
            ),
            (
                9,
                "spec.servers[1].port.name",
                "port names in servers must be unique: duplicate name web",
            ),
        ],
    ),
    (
        "service entry star host (STATIC without endpoints is valid, as Istio has it)",
        "ServiceEntry",
        "hosts: ['*']\nports: [{number: 80, name: http}]\nresolution: STATIC\n",
        [
            (6, "spec.hosts[0]", 'host "*" is not allowed here'),
        ],
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(kind: str, spec: str, expected: list[tuple[int, str, str]]) -> None:
    assert diagnostics(kind, spec) == [
        P.format(line=line, kind=kind, path=path, message=message)
        for line, path, message in expected
    ]
