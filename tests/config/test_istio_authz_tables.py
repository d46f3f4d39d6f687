"""Istio's TestValidateAuthorizationPolicy, TestValidatePeerAuthentication and
Test_validateExportTo (istio/istio pkg/config/validation/validation_test.go, commit 86c9f01),
every case, written here afresh as YAML (tests/config/istio_table.py runs them); the empty-list
cases of one Go case per field are one case per field here. exportTo cases are put on a
VirtualService, a ServiceEntry or a DestinationRule with a workloadSelector, in namespace ns5.

Counts: AuthorizationPolicy 67 (52 refused by Istio; before this module's rules 1 was decided
differently: an empty serviceAccounts entry), PeerAuthentication 9, exportTo 19 (7 decided
differently before: exportTo was not checked against the namespace, `~`, invalid names, nor on a
VirtualService). `EXTRA` holds cases of the rules of pkg/config/security (CheckServiceAccount,
CheckTrustDomainValues, CheckValidPathTemplate, CUSTOM restrictions) that the tables do not
exercise.

Go's `From: []*Rule_From{}` (an empty, non-nil list, which Istio refuses) has no YAML spelling:
protobuf's JSON reader, in istioctl and in the webhook, reads `from: []` as an unset list, so
Istio accepts `from: []` and `to: []` written in a file."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
A = "AuthorizationPolicy"
SEL = "selector: {matchLabels: {app: httpbin, version: v1}}"
TR = "rules: [{from: [{source: {principals: [temp]}}], to: [{operation: {ports: ['8080'], methods: [GET, DELETE]}}]}]"
GW = "group: gateway.networking.k8s.io, kind: Gateway"
def r(x: str) -> str:
    return "{rules: [" + x + "]}"
AUTHZ: list[Case] = [
 ("good", A, "{" + SEL + ", rules: [{from: [{source: {principals: [sa1]}}, {source: {principals: [sa2]}}], to: [{operation: {methods: [GET]}}, {operation: {methods: [POST]}}], when: [{key: source.ip, values: [1.2.3.4, 5.6.7.0/24]}, {key: 'request.headers[:authority]', values: [v1, v2]}]}]}", False),
 ("good serviceAccounts", A, "{" + SEL + ", rules: [{from: [{source: {serviceAccounts: [ns1/sa1, ns2/sa2]}}, {source: {principals: [sa2]}}]}]}", False),
 ("serviceAccounts and namespaces", A, "{" + SEL + ", rules: [{from: [{source: {serviceAccounts: [ns1/sa1, ns2/sa2], namespaces: [ns]}}]}]}", True),
 ("custom-good", A, "{action: CUSTOM, provider: {name: my-custom-authz}, rules: [{}]}", False),
 ("custom-empty-provider", A, "{action: CUSTOM, provider: {name: ''}, rules: [{}]}", True),
 ("custom-nil-provider", A, "{action: CUSTOM, rules: [{}]}", True),
 ("custom-invalid-rule", A, "{action: CUSTOM, provider: {name: my-custom-authz}, rules: [{from: [{source: {namespaces: [ns], notNamespaces: [ns], principals: [id], notPrincipals: [id], requestPrincipals: [req], notRequestPrincipals: [req]}}], when: [{key: source.namespace, values: [source.namespace1], notValues: [source.namespace2]}, {key: source.principal, values: [source.principal1], notValues: [source.principal2]}, {key: 'request.auth.claims[a]', values: [claims1], notValues: [claims2]}]}]}", True),
 ("provider-wrong-action", A, "{action: ALLOW, provider: {name: ''}, rules: [{}]}", True),
 ("allow-rules-nil", A, "{action: ALLOW}", False),
 ("dry-run-valid-allow", A, "{action: ALLOW}", False, "{name: name, namespace: namespace, annotations: {istio.io/dry-run: 'true'}}"),
 ("dry-run-valid-deny", A, "{action: DENY, rules: [{}]}", False, "{name: name, namespace: namespace, annotations: {istio.io/dry-run: 'false'}}"),
 ("dry-run-invalid-value", A, "{action: ALLOW}", True, "{name: name, namespace: namespace, annotations: {istio.io/dry-run: foo}}"),
 ("dry-run-invalid-action-custom", A, "{action: CUSTOM}", True, "{name: name, namespace: namespace, annotations: {istio.io/dry-run: 'true'}}"),
 ("dry-run-invalid-action-audit", A, "{action: AUDIT}", True, "{name: name, namespace: namespace, annotations: {istio.io/dry-run: 'true'}}"),
 ("deny-rules-nil", A, "{action: DENY}", True),
 ("selector-empty-value", A, "{selector: {matchLabels: {app: '', version: v1}}}", False),
 ("selector-empty-key", A, "{selector: {matchLabels: {app: httpbin, '': v1}}}", True),
 ("selector-empty-labels", A, "{selector: {}}", False),
 ("selector-wildcard-value", A, "{selector: {matchLabels: {app: httpbin-*}}}", True),
 ("selector-wildcard-key", A, "{selector: {matchLabels: {app-*: httpbin}}}", True),
 ("target-ref-good", A, "{action: DENY, targetRef: {" + GW + ", name: foo}, " + TR + "}", False),
 ("target-refs-good", A, "{action: DENY, targetRefs: [{" + GW + ", name: foo}], " + TR + "}", False),
 ("target-refs-good-service", A, "{action: DENY, targetRefs: [{group: '', kind: Service, name: foo}], " + TR + "}", False),
 ("target-ref-non-empty-namespace", A, "{action: DENY, targetRef: {" + GW + ", name: foo, namespace: bar}, " + TR + "}", True),
 ("target-ref-empty-name", A, "{action: DENY, targetRef: {" + GW + "}, " + TR + "}", True),
 ("target-ref-wrong-group", A, "{action: DENY, targetRef: {group: wrong-group, kind: Gateway, name: foo}, " + TR + "}", True),
 ("target-ref-wrong-kind", A, "{action: DENY, targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}, " + TR + "}", True),
 ("target-ref-and-selector", A, "{action: DENY, targetRef: {" + GW + ", name: foo}, selector: {matchLabels: {app: httpbin}}, " + TR + "}", True),
 ("target-refs-and-selector", A, "{action: DENY, targetRefs: [{" + GW + ", name: foo}], selector: {matchLabels: {app: httpbin}}, " + TR + "}", True),
 ("from-empty (from YAML: unset, so accepted)", A, r("{from: []}"), False),
 ("source-nil", A, r("{from: [{}]}"), True),
 ("source-empty", A, r("{from: [{source: {}}]}"), True),
 ("to-empty (from YAML: unset, so accepted)", A, r("{to: []}"), False),
 ("operation-nil", A, r("{to: [{}]}"), True),
 ("operation-empty", A, r("{to: [{operation: {}}]}"), True),
] + [
 (f"{f}-empty", A, r("{from: [{source: {" + f + ": [" + v + ", '']}}]}"), True) for f, v in [("principals", "p1"), ("notPrincipals", "p1"), ("requestPrincipals", "p1"), ("notRequestPrincipals", "p1"), ("namespaces", "ns"), ("serviceAccounts", "ns/sa"), ("notNamespaces", "ns"), ("ipBlocks", "1.2.3.4"), ("notIpBlocks", "1.2.3.4"), ("remoteIpBlocks", "1.2.3.4"), ("notRemoteIpBlocks", "1.2.3.4")]
] + [
 (f"{f}-empty", A, r("{to: [{operation: {" + f + ": [" + v + ", '']}}]}"), True) for f, v in [("hosts", "host"), ("notHosts", "host"), ("ports", "'80'"), ("notPorts", "'80'"), ("methods", "GET"), ("notMethods", "GET"), ("paths", "/path"), ("notPaths", "/path")]
] + [
 ("value-empty", A, r("{when: [{key: 'request.headers[:authority]', values: [v1, '']}]}"), True),
 ("invalid ip and port in ipBlocks", A, r("{from: [{source: {ipBlocks: [1.2.3.4, ip1], notIpBlocks: [5.6.7.8, ip2]}}], to: [{operation: {ports: ['80', port1], notPorts: ['90', port2]}}]}"), True),
 ("invalid ip and port in remoteIpBlocks", A, r("{from: [{source: {remoteIpBlocks: [1.2.3.4, ip1], notRemoteIpBlocks: [5.6.7.8, ip2]}}], to: [{operation: {ports: ['80', port1], notPorts: ['90', port2]}}]}"), True),
 ("condition-key-missing", A, "{selector: {matchLabels: {app: httpbin}}, rules: [{when: [{values: [v1, v2]}]}]}", True),
 ("condition-key-empty", A, "{selector: {matchLabels: {app: httpbin}}, rules: [{when: [{key: '', values: [v1, v2]}]}]}", True),
 ("condition-value-missing", A, "{selector: {matchLabels: {app: httpbin}}, rules: [{when: [{key: source.principal}]}]}", True),
 ("condition-value-invalid", A, r("{when: [{key: source.ip, values: [a.b.c.d]}]}"), True),
 ("condition-notValue-invalid", A, r("{when: [{key: source.ip, notValues: [a.b.c.d]}]}"), True),
 ("condition-unknown", A, "{selector: {matchLabels: {app: httpbin}}, rules: [{when: [{key: key1, values: [v1]}]}]}", True),
 ("L7DenyWithFrom", A, "{action: DENY, selector: {matchLabels: {app: httpbin}}, rules: [{from: [{source: {requestPrincipals: [example.com/sub-1]}}]}]}", False),
 ("L7DenyWithTo", A, "{action: DENY, selector: {matchLabels: {app: httpbin}}, rules: [{to: [{operation: {methods: [GET, DELETE]}}]}]}", False),
 ("L7DenyWithFromAndTo", A, "{action: DENY, selector: {matchLabels: {app: httpbin}}, rules: [{from: [{source: {principals: [temp]}}], to: [{operation: {methods: [GET, DELETE]}}]}]}", False),
 ("L7DenyWithFromAndToWithPort", A, "{action: DENY, selector: {matchLabels: {app: httpbin}}, " + TR + "}", False),
]

P = "PeerAuthentication"
DEF = "{name: default, namespace: ns}"
PEER: list[Case] = [
 ("pa empty spec", P, "{}", False, DEF),
 ("pa empty selector", P, "{selector: {}}", False, DEF),
 ("pa empty spec non default name", P, "{}", False),
 ("pa default name with selector", P, "{selector: {matchLabels: {app: httpbin}}}", False, DEF),
 ("pa empty port level mtls", P, "{selector: {matchLabels: {app: httpbin}}, portLevelMtls: {}}", True, "{name: foo, namespace: ns}"),
 ("pa no selector with port level", P, "{portLevelMtls: {8080: {mode: UNSET}}}", True, DEF),
 ("pa port 0", P, "{portLevelMtls: {0: {mode: UNSET}}}", True, "{name: foo, namespace: ns}"),
 ("pa unset mode", P, "{mtls: {mode: UNSET}}", False, DEF),
 ("pa port level", P, "{selector: {matchLabels: {app: httpbin}}, portLevelMtls: {8080: {mode: UNSET}}}", False, "{name: port-level, namespace: ns}"),
]
EXPORT: list[Case] = []
NS = "{name: x, namespace: ns5}"
VS = "hosts: [a], http: [{route: [{destination: {host: a}}]}]"
SE = "hosts: [a.example.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS"
DRS = "host: a, workloadSelector: {matchLabels: {app: a}}"
for name, kind, body, ex, bad in [
  ("empty exportTo", "VirtualService", VS, None, False),
  ("* allowed", "VirtualService", VS, "['*']", False),
  (". and ns1", "VirtualService", VS, "['.', ns1]", False),
  ("namespaces", "VirtualService", VS, "[ns1, ns2, ns5]", False),
  ("~ for service entry", "ServiceEntry", SE, "['~']", False),
  ("~ not for others", "VirtualService", VS, "['~', ns1]", True),
  (". and *", "VirtualService", VS, "['.', '*']", True),
  ("* and ns1", "VirtualService", VS, "['*', ns1]", True),
  (". and own ns", "VirtualService", VS, "['.', ns5]", True),
  ("duplicate ns", "VirtualService", VS, "[ns1, ns2, ns1]", True),
  ("duplicate ~ se", "ServiceEntry", SE, "['~', '~', ns1]", True),
  ("invalid ns name", "VirtualService", VS, "[ns1_]", True),
  ("~ and ns se", "ServiceEntry", SE, "['~', ns1]", True),
  ("dr selector *", "DestinationRule", DRS, "['*']", True),
  ("dr selector .", "DestinationRule", DRS, "['.']", False),
  ("dr selector other", "DestinationRule", DRS, "[somens]", True),
  ("dr selector . and other", "DestinationRule", DRS, "['.', somens]", True),
  ("dr exportTo ~", "DestinationRule", "host: a", "['~']", True),
  ("gateway-free se ~ ok", "ServiceEntry", SE, "['~']", False),
]:
    spec = "{" + body + (f", exportTo: {ex}" if ex else "") + "}"
    EXPORT.append(("exportTo " + name, kind, spec, bad, NS))
# fmt: on

EXTRA: list[Case] = [
    ("sa wildcard", A, r("{from: [{source: {serviceAccounts: ['ns/*']}}]}"), True),
    ("sa three segments", A, r("{from: [{source: {serviceAccounts: [a/b/c]}}]}"), True),
    ("sa empty namespace", A, r("{from: [{source: {serviceAccounts: [/sa]}}]}"), True),
    ("sa empty name", A, r("{from: [{source: {serviceAccounts: [ns/]}}]}"), True),
    ("sa bare name", A, r("{from: [{source: {notServiceAccounts: [sa]}}]}"), False),
    (
        "sa 17 values",
        A,
        r("{from: [{source: {serviceAccounts: [" + ", ".join(f"s{i}" for i in range(17)) + "]}}]}"),
        True,
    ),
    ("td ok", A, r("{from: [{source: {trustDomains: ['*.example.com', cluster.local]}}]}"), False),
    ("td inner wildcard", A, r("{from: [{source: {trustDomains: ['a*b']}}]}"), True),
    ("td two wildcards", A, r("{from: [{source: {notTrustDomains: ['*a*']}}]}"), True),
    ("td slash", A, r("{from: [{source: {trustDomains: [a/b]}}]}"), True),
    ("when sa bad", A, r("{when: [{key: source.serviceAccount, values: [a/b/c]}]}"), True),
    ("when td inner wildcard", A, r("{when: [{key: source.trustDomain, values: ['a*b']}]}"), True),
    (
        "custom sa",
        A,
        "{action: CUSTOM, provider: {name: p}, rules: [{from: [{source: {serviceAccounts: [ns/sa]}}]}]}",
        True,
    ),
    (
        "custom request principals",
        A,
        "{action: CUSTOM, provider: {name: p}, rules: [{from: [{source: {requestPrincipals: [a/b]}}]}]}",
        True,
    ),
    (
        "custom when claims",
        A,
        "{action: CUSTOM, provider: {name: p}, rules: [{when: [{key: 'request.auth.claims[a]', values: [b]}]}]}",
        True,
    ),
    (
        "custom ip ok",
        A,
        "{action: CUSTOM, provider: {name: p}, rules: [{from: [{source: {ipBlocks: [1.2.3.4]}}], when: [{key: source.ip, values: [1.2.3.4]}]}]}",
        False,
    ),
    ("path template ok", A, r("{to: [{operation: {paths: ['/a/{*}/b/{**}']}}]}"), False),
    ("path template bad literal", A, r("{to: [{operation: {paths: ['/a b/{*}']}}]}"), True),
    ("path template any not last", A, r("{to: [{operation: {notPaths: ['/{**}/a/{*}']}}]}"), True),
    ("path brace no template", A, r("{to: [{operation: {paths: ['/a}']}}]}"), True),
]


@pytest.mark.parametrize("case", AUTHZ, ids=ids(AUTHZ))
def test_authorization_policy_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", PEER, ids=ids(PEER))
def test_peer_authentication_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", EXPORT, ids=ids(EXPORT))
def test_export_to_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", EXTRA, ids=ids(EXTRA))
def test_security_rules_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
