"""Istio's TestValidateSidecar (istio/istio pkg/config/validation/validation_test.go, commit
86c9f01), every case, written here afresh as YAML (tests/config/istio_table.py runs them); the
IPv4/IPv6 pairs of the ingress TLS cases are built by a comprehension. 73 cases, 46 refused by
Istio; all were decided as Istio before this module (it records them)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
S = "Sidecar"
ALL = "egress: [{hosts: ['*/*']}]"
def sc(s: str) -> str:
    return "{" + s + "}"
def ing(port: str, endpoint: str, more: str = "") -> str:
    return "ingress: [{port: " + port + ", defaultEndpoint: '" + endpoint + "'" + more + "}]"
HTTP90 = "{protocol: http, number: 90, name: foo}"
TCP90 = "{protocol: tcp, number: 90, name: foo}"
UDS = "{protocol: http, number: 0, name: uds}"
POOL = "{http: {http1MaxPendingRequests: 1024, http2MaxRequests: 1024, maxRequestsPerConnection: 1024, maxRetries: 1024}}"
CERTS = "[{serverCertificate: /etc/istio/ingress-certs/tls.crt, privateKey: /etc/istio/ingress-certs/tls.key}, {serverCertificate: /etc/istio/ingress-certs/tls2.crt, privateKey: /etc/istio/ingress-certs/tls2.key}]"
SIDECARS: list[Case] = [
 ("empty ingress and egress", S, "{}", True),
 ("default", S, sc(ALL), False),
 ("selector without labels", S, sc(ALL + ", workloadSelector: {}"), False),
 ("local ns wildcard", S, sc("egress: [{hosts: ['./*']}]"), False),
 ("local ns fqdn", S, sc("egress: [{hosts: [./foo.com]}]"), False),
 ("import nothing", S, sc("egress: [{hosts: ['~/*']}]"), False),
 ("all except a namespace", S, sc("egress: [{hosts: ['*/*', '~ns1/*']}]"), False),
 ("all except an exact host", S, sc("egress: [{hosts: ['*/*', '~/foo.com']}]"), False),
 ("exclude invalid namespace", S, sc("egress: [{hosts: ['*/*', '~Invalid_NS/*']}]"), True),
 ("bad egress host 1", S, sc("egress: [{hosts: ['*']}]"), True),
 ("bad egress host 2", S, sc("egress: [{hosts: [/]}]"), True),
 ("empty egress host", S, sc("egress: [{hosts: []}]"), True),
 ("multiple wildcard egress", S, sc("egress: [{hosts: ['*/foo.com']}, {hosts: [ns1/bar.com]}]"), True),
 ("wildcard egress not at end", S, sc("egress: [{hosts: ['*/foo.com']}, {port: {protocol: http, number: 8080, name: h8080}, hosts: [ns1/bar.com]}]"), True),
 ("invalid port", S, sc("egress: [{port: {protocol: http1, number: 1000000, name: ''}, hosts: [ns1/bar.com]}]"), True),
 ("port without name", S, sc("egress: [{port: {protocol: http, number: 8080}, hosts: [ns1/bar.com]}]"), False),
 ("uds bind outbound", S, sc("egress: [{port: " + UDS + ", hosts: [ns1/bar.com], bind: 'unix:///@foo/bar/com'}]"), False),
 ("uds bind inbound", S, sc("ingress: [{port: " + UDS + ", bind: 'unix:///@foo/bar/com', defaultEndpoint: '127.0.0.1:9999'}]"), True),
 ("uds bind outbound 2", S, sc("egress: [{port: " + UDS + ", hosts: [ns1/bar.com], bind: 'unix:///foo/bar/com'}]"), False),
 ("invalid bind", S, sc("egress: [{port: " + UDS + ", hosts: [ns1/bar.com], bind: 'foobar:///@foo/bar/com'}]"), True),
 ("capture mode with uds bind", S, sc("egress: [{port: " + UDS + ", hosts: [ns1/bar.com], bind: 'unix:///@foo/bar/com', captureMode: IPTABLES}]"), True),
 ("duplicate uds bind", S, sc("egress: [{port: " + UDS + ", hosts: [ns1/bar.com], bind: 'unix:///@foo/bar/com'}, {port: " + UDS + ", hosts: [ns1/bar.com], bind: 'unix:///@foo/bar/com'}]"), True),
 ("duplicate ports", S, sc("egress: [{port: {protocol: http, number: 90, name: foo}, hosts: [ns1/bar.com]}, {port: {protocol: tcp, number: 90, name: tcp}, hosts: [ns2/bar.com]}]"), True),
 ("ingress without port", S, sc("ingress: [{defaultEndpoint: '127.0.0.1:110'}], " + ALL), True),
 ("ingress without port v6", S, sc("ingress: [{defaultEndpoint: '[::1]:110'}], " + ALL), True),
 ("ingress duplicate ports", S, sc("ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:110'}, {port: {protocol: tcp, number: 90, name: bar}, defaultEndpoint: '127.0.0.1:110'}], " + ALL), True),
 ("ingress duplicate ports v6", S, sc("ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '[::1]:110'}, {port: {protocol: tcp, number: 90, name: bar}, defaultEndpoint: '[::1]:110'}], " + ALL), True),
 ("ingress without default endpoint", S, sc("ingress: [{port: " + HTTP90 + "}], " + ALL), False),
 ("ingress bad endpoint v4", S, sc(ing(HTTP90, "1.1.1.1:90")), True),
 ("ingress bad endpoint v6", S, sc(ing(HTTP90, "[1:1:1:1:1:1:1:1]:90")), True),
 ("ingress bad endpoint uds", S, sc(ing(HTTP90, "unix:///") + ", " + ALL), True),
 ("ingress bad endpoint port v4", S, sc(ing(HTTP90, "127.0.0.1:hi") + ", " + ALL), True),
 ("ingress bad endpoint port v6", S, sc(ing(HTTP90, "[::1]:hi") + ", " + ALL), True),
 ("ingress and egress v4", S, sc(ing(HTTP90, "127.0.0.1:9999") + ", " + ALL), False),
 ("ingress and egress v6", S, sc(ing(HTTP90, "[::1]:9999") + ", " + ALL), False),
 ("ingress only v4", S, sc(ing(HTTP90, "127.0.0.1:9999")), False),
 ("ingress only v6", S, sc(ing(HTTP90, "[::1]:9999")), False),
 ("empty", S, "{}", True),
 ("just outbound traffic policy", S, "{outboundTrafficPolicy: {mode: ALLOW_ANY}}", False),
 ("empty protocol v4", S, sc(ing("{number: 90, name: foo}", "127.0.0.1:9999") + ", " + ALL), False),
 ("empty protocol v6", S, sc(ing("{number: 90, name: foo}", "[::1]:9999") + ", " + ALL), False),
 ("allow any no egress proxy", S, sc("outboundTrafficPolicy: {mode: ALLOW_ANY}, " + ALL), False),
 ("egress proxy registry only", S, sc("outboundTrafficPolicy: {egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}, " + ALL), True),
 ("egress proxy allow any", S, sc("outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}, " + ALL), False),
 ("egress proxy bad fqdn", S, sc("outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: 'foobar*123', subset: shiny, port: {number: 5000}}}, " + ALL), True),
 ("egress proxy without port", S, sc("outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny}}, " + ALL), True),
 ("allow any dynamic dns", S, sc("outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}, " + ALL), True),
 ("egress one wildcarded", S, sc("egress: [{hosts: ['*/*', test/a.com]}]"), False),
 ("egress wildcarded ns", S, sc("egress: [{hosts: ['*/b.com', test/a.com]}]"), False),
 ("egress same ns wildcard", S, sc("egress: [{hosts: ['test/*', test/a.com]}]"), False),
 ("invalid partial wildcard", S, sc("egress: [{hosts: ['test/*a.com']}]"), True),
 ("egress . wildcard", S, sc("egress: [{hosts: ['./*', bar/a.com]}]"), False),
] + [
 (f"ingress tls {label} {v}", S, sc(ing(port, ep, ", tls: " + tls)), True)
 for label, port, tls in [
  ("ISTIO_MUTUAL", HTTP90, "{mode: ISTIO_MUTUAL}"),
  ("AUTO_PASSTHROUGH", HTTP90, "{mode: AUTO_PASSTHROUGH}"),
  ("tcp protocol", TCP90, "{mode: SIMPLE}"),
  ("httpsRedirect", TCP90, "{mode: SIMPLE, httpsRedirect: true}"),
  ("SAN", TCP90, "{mode: SIMPLE, subjectAltNames: [httpbin.com]}"),
  ("credentialName", TCP90, "{mode: SIMPLE, credentialName: secret-name}"),
  ("credentialNames", TCP90, "{mode: SIMPLE, credentialNames: [secret-name]}"),
  ("tlsCertificates", TCP90, "{mode: SIMPLE, tlsCertificates: " + CERTS + "}"),
 ]
 for v, ep in (("v4", "127.0.0.1:9999"), ("v6", "[::1]:9999"))
] + [
 ("port pool with top level", S, sc("ingress: [{port: " + HTTP90 + ", connectionPool: " + POOL + "}], inboundConnectionPool: " + POOL), False),
 ("port pool without top level", S, sc("ingress: [{port: " + HTTP90 + ", connectionPool: " + POOL + "}]"), False),
 ("http pool on tcp port", S, sc("ingress: [{port: " + TCP90 + ", connectionPool: " + POOL + "}]"), False),
 ("empty top level pool", S, "{inboundConnectionPool: {}}", True),
 ("empty port pool", S, sc("ingress: [{port: " + TCP90 + ", connectionPool: {}}]"), True),
]

# fmt: on


@pytest.mark.parametrize("case", SIDECARS, ids=ids(SIDECARS))
def test_sidecars_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
