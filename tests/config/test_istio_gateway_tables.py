"""Istio's TestValidateGateway, TestValidateServer, TestValidateServerPort and
TestValidateTlsOptions (istio/istio pkg/config/validation/validation_test.go, commit 86c9f01),
written here afresh as YAML (tests/config/istio_table.py runs them): servers and ports on a
Gateway, TLS options on an HTTPS server. Gateway/server/port 34 cases, TLS 44 (the three cases
whose message list repeats one input are one case here; the two "more than 2 certs" cases are
left out: Istio's webhook only warns but the CRD schema, applied first, refuses three
tlsCertificates). A credentialName beside a lone serverCertificate or privateKey is accepted,
as Istio's Go table says: its webhook counts certificate files as a source only when both are
set, and no CEL rule of the CRD names them (an earlier reading refused them). Before this module's rules 1 was decided differently: caCrl beside a
credentialName on a SIMPLE server (accepted by Istio, whose check stops at remote credentials)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
G = "Gateway"
def gw(*servers: str) -> str:
    return "{servers: [" + ", ".join(servers) + "]}"
def srv(hosts: str, port: str, more: str = "") -> str:
    return "{hosts: " + hosts + ", port: " + port + more + "}"
P7 = "{number: 7, name: http, protocol: http}"
GATEWAYS: list[Case] = [
 ("gw empty", G, "{}", True),
 ("gw happy domain", G, gw(srv("[foo.bar.com]", "{name: name1, number: 7, protocol: http}")), False),
 ("gw k8s ~ host", G, gw(srv("['~/foo.bar.com']", "{name: name1, number: 7, protocol: http}")), True),
 ("gw invalid port", G, gw(srv("[foo.bar.com]", "{name: name1, number: 66000, protocol: http}")), True),
 ("gw duplicate port names", G, gw(srv("[foo.bar.com]", "{name: foo, number: 80, protocol: http}"), srv("[scooby.doo.com]", "{name: foo, number: 8080, protocol: http}")), True),
 ("gw invalid domain", G, gw(srv("['foo.*.bar.com']", "{number: 7, protocol: http}")), True),
 ("gw valid httpsRedirect", G, gw(srv("[bar.com]", "{name: http, number: 80, protocol: http}", ", tls: {httpsRedirect: true}")), False),
 ("gw httpsRedirect on https (warning)", G, gw(srv("[bar.com]", "{name: https, number: 80, protocol: https}", ", tls: {httpsRedirect: true}")), False),
 ("gw partial wildcard", G, gw(srv("['*bar.com']", "{name: tls, number: 443, protocol: tls}", ", tls: {mode: ISTIO_MUTUAL}")), True),
 ("server empty", G, gw("{}"), True),
 ("server happy", G, gw(srv("[foo.bar.com]", P7)), False),
 ("server ip", G, gw(srv("[1.1.1.1]", P7)), False),
 ("server ns/name", G, gw(srv("[ns1/foo.bar.com]", P7)), False),
 ("server */name", G, gw(srv("['*/foo.bar.com']", P7)), False),
 ("server ./name", G, gw(srv("[./foo.bar.com]", P7)), False),
 ("server ~/name", G, gw(srv("['~/foo.bar.com']", P7)), True),
 ("server ns/bad domain", G, gw(srv("['ns1/foo.*.bar.com']", P7)), True),
 ("server bad domain", G, gw(srv("['foo.*.bar.com']", P7)), True),
 ("server short name", G, gw(srv("[foo]", P7)), True),
 ("server invalid port", G, gw(srv("[foo.bar.com]", "{number: 66000, name: http, protocol: http}")), True),
 ("server tls options", G, gw(srv("[foo.bar.com]", "{number: 1, name: http, protocol: http}", ", tls: {mode: SIMPLE}")), True),
 ("server https without tls", G, gw(srv("[foo.bar.com]", "{number: 10000, name: https, protocol: https}")), True),
 ("server tls on http", G, gw(srv("[foo.bar.com]", "{number: 10000, name: http, protocol: http}", ", tls: {mode: SIMPLE}")), True),
 ("server redirect on http", G, gw(srv("[foo.bar.com]", "{number: 10000, name: http, protocol: http}", ", tls: {httpsRedirect: true}")), False),
 ("server bind ip", G, gw(srv("[foo.bar.com]", P7, ", bind: 127.0.0.1")), False),
 ("server unix bind with port", G, gw(srv("[foo.bar.com]", P7, ", bind: 'unix://@foobar'")), True),
 ("server unix bind", G, gw(srv("[foo.bar.com]", "{number: 0, name: http, protocol: http}", ", bind: 'unix://@foobar'")), False),
 ("server bad bind ip", G, gw(srv("[foo.bar.com]", "{number: 0, name: http, protocol: http}", ", bind: foo.bar")), True),
 ("port empty", G, gw(srv("[foo.bar.com]", "{}")), True),
 ("port happy", G, gw(srv("[foo.bar.com]", "{protocol: http, number: 1, name: Henry}")), False),
 ("port invalid protocol", G, gw(srv("[foo.bar.com]", "{protocol: kafka, number: 1, name: Henry}")), True),
 ("port invalid number", G, gw(srv("[foo.bar.com]", "{protocol: http, number: 1073741824, name: http}")), True),
 ("port no number", G, gw(srv("[foo.bar.com]", "{protocol: http, number: 0, name: Henry}")), True),
 ("port no number uds", G, gw(srv("[foo.bar.com]", "{protocol: http, number: 0, name: Henry}", ", bind: 'uds:///tmp'")), True),
]

G = "Gateway"
def t(tls: str) -> str:
    return "{servers: [{hosts: [foo.bar.com], port: {number: 443, name: https, protocol: HTTPS}, tls: {" + tls + "}}]}"
SC, PK, CA = "serverCertificate: picard", "privateKey: khan", "caCertificates: riker"
C1 = "{serverCertificate: picard, privateKey: khan}"
C2 = "{serverCertificate: riker, privateKey: riker}"
C3 = "{serverCertificate: data, privateKey: data}"
TLS: list[Case] = [
 ("tls empty", G, t(""), False),
 ("tls simple", G, t(f"mode: SIMPLE, {SC}, {PK}"), False),
 ("tls simple client bundle", G, t(f"mode: SIMPLE, {SC}, {PK}, {CA}"), False),
 ("tls simple sds", G, t("mode: SIMPLE, credentialName: sds-name"), False),
 ("tls simple sds and server cert", G, t(f"mode: SIMPLE, {SC}, {PK}, credentialName: sds-name"), True),
 ("tls simple no server cert", G, t(f"mode: SIMPLE, serverCertificate: '', {PK}"), True),
 ("tls simple no private key", G, t(f"mode: SIMPLE, {SC}, privateKey: ''"), True),
 ("tls simple server cert and tls certs", G, t(f"mode: SIMPLE, {SC}, {PK}, tlsCertificates: [{C1}, {C3}]"), True),
 ("tls simple 2 certs missing cert", G, t(f"mode: SIMPLE, tlsCertificates: [{{privateKey: riker}}, {C2}]"), True),
 ("tls simple 2 certs missing key", G, t(f"mode: SIMPLE, tlsCertificates: [{{serverCertificate: picard}}, {C2}]"), True),
 ("tls simple sds no server cert", G, t(f"mode: SIMPLE, serverCertificate: '', {PK}, credentialName: sds-name"), False),
 ("tls simple sds no private key", G, t(f"mode: SIMPLE, {SC}, privateKey: '', credentialName: sds-name"), False),
 ("tls mutual", G, t(f"mode: MUTUAL, {SC}, {PK}, {CA}"), False),
 ("tls mutual sds", G, t(f"mode: MUTUAL, {CA}, credentialName: sds-name"), False),
 ("tls mutual sds and server cert", G, t(f"mode: MUTUAL, {SC}, {PK}, {CA}, credentialName: sds-name"), True),
 ("tls mutual sds and tls certs", G, t(f"mode: MUTUAL, {CA}, tlsCertificates: [{C1}], credentialName: sds-name"), True),
 ("tls mutual no server cert", G, t(f"mode: MUTUAL, serverCertificate: '', {PK}, {CA}"), True),
 ("tls credentialNames and certs", G, t("mode: MUTUAL, serverCertificate: /etc/istio/certs/server/cert, privateKey: /etc/istio/certs/server/key, credentialNames: [server-certs]"), True),
 ("tls credentialNames and tls certs", G, t("mode: MUTUAL, tlsCertificates: [{serverCertificate: /etc/istio/certs/server/cert, privateKey: /etc/istio/certs/server/key, caCertificates: /etc/istio/certs/server/cacert2}], credentialNames: [server-certs]"), True),
 ("tls only tls certs", G, t("mode: MUTUAL, tlsCertificates: [{serverCertificate: /etc/istio/certs/server/cert, privateKey: /etc/istio/certs/server/key}], caCertificates: /etc/istio/certs/server/cacert2"), False),
 ("tls mutual sds no server cert", G, t(f"mode: MUTUAL, serverCertificate: '', {PK}, {CA}, credentialName: sds-name"), False),
 ("tls mutual no client CA", G, t(f"mode: MUTUAL, {SC}, {PK}, caCertificates: ''"), True),
 ("tls mutual no certs", G, t("mode: MUTUAL, serverCertificate: '', privateKey: '', caCertificates: ''"), True),
 ("tls mutual server cert and tls certs", G, t(f"mode: MUTUAL, {SC}, {PK}, {CA}, tlsCertificates: [{C1}, {C3}]"), True),
 ("tls mutual 2 certs missing cert", G, t(f"mode: MUTUAL, caCertificates: data, tlsCertificates: [{{privateKey: riker}}, {C2}]"), True),
 ("tls mutual 2 certs missing key", G, t(f"mode: MUTUAL, caCertificates: data, tlsCertificates: [{{serverCertificate: picard}}, {C2}]"), True),
 ("tls mutual 2 certs missing CA", G, t(f"mode: MUTUAL, tlsCertificates: [{C1}, {C2}]"), True),
 ("tls optional mutual no certs", G, t("mode: OPTIONAL_MUTUAL, serverCertificate: '', privateKey: '', caCertificates: ''"), True),
 ("tls passthrough sds (warning)", G, t("mode: PASSTHROUGH, serverCertificate: '', caCertificates: '', credentialName: sds-name"), False),
 ("tls passthrough crl (warning)", G, t("mode: PASSTHROUGH, serverCertificate: '', caCertificates: '', caCrl: scrl"), False),
 ("tls istio mutual no certs", G, t("mode: ISTIO_MUTUAL, serverCertificate: '', privateKey: '', caCertificates: ''"), False),
 ("tls istio mutual server cert", G, t(f"mode: ISTIO_MUTUAL, {SC}"), True),
 ("tls istio mutual client bundle", G, t(f"mode: ISTIO_MUTUAL, {SC}, {PK}, {CA}"), True),
 ("tls istio mutual private key", G, t(f"mode: ISTIO_MUTUAL, {PK}"), True),
 ("tls istio mutual credential", G, t("mode: ISTIO_MUTUAL, credentialName: some-cred"), True),
 ("tls invalid cipher (warning)", G, t("mode: SIMPLE, credentialName: sds-name, cipherSuites: [not-a-cipher-suite]"), False),
 ("tls valid cipher", G, t("mode: SIMPLE, credentialName: sds-name, cipherSuites: [ECDHE-ECDSA-AES128-SHA]"), False),
 ("tls cipher operation", G, t("mode: SIMPLE, credentialName: sds-name, cipherSuites: [-ECDHE-ECDSA-AES128-SHA]"), False),
 ("tls duplicate cipher (warning)", G, t("mode: SIMPLE, credentialName: sds-name, cipherSuites: [ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES128-SHA]"), False),
 ("tls invalid cipher invalid config", G, t("mode: SIMPLE, cipherSuites: [not-a-cipher-suite]"), True),
 ("tls crl simple", G, t("mode: SIMPLE, caCrl: crl"), True),
 ("tls crl credentialName", G, t("mode: SIMPLE, caCrl: crl, credentialName: credential"), False),
 ("tls mutual no private key", G, t(f"mode: MUTUAL, serverCertificate: khan, privateKey: '', {CA}"), True),
 ("tls credentialNames", G, t("mode: MUTUAL, credentialNames: [credential1, credential2]"), False),
]

# fmt: on


@pytest.mark.parametrize("case", GATEWAYS, ids=ids(GATEWAYS))
def test_gateways_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", TLS, ids=ids(TLS))
def test_tls_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
