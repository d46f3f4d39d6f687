"""Istio's validation tables (istio/istio pkg/config/validation, TestValidateConnectionPool,
TestValidateLoadBalancer, TestValidateOutlierDetection, TestValidateSidecar), written here
afresh as YAML: each case is accepted or refused as Istio's webhook decides, and a refusal names
a field path. Warnings Istio gives (and accepts with) are checked at the end."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest

from pilotfish.config import load

API = {"DestinationRule": "networking.istio.io/v1", "Sidecar": "networking.istio.io/v1"}
D, S = "DestinationRule", "Sidecar"
E = "egress: [{hosts: ['*/*']}]"


def tp(policy: str) -> str:
    return "{host: a, trafficPolicy: " + policy + "}"


CASES = [
    ("cp empty", D, tp("{connectionPool: {}}"), True),
    ("cp tcp maxConn -1", D, tp("{connectionPool: {tcp: {maxConnections: -1}}}"), True),
    (
        "cp connect timeout nanos",
        D,
        tp("{connectionPool: {tcp: {connectTimeout: 2.000000005s}}}"),
        True,
    ),
    ("cp pending -1", D, tp("{connectionPool: {http: {http1MaxPendingRequests: -1}}}"), True),
    ("cp h2 max -1", D, tp("{connectionPool: {http: {http2MaxRequests: -1}}}"), True),
    ("cp mrpc -1", D, tp("{connectionPool: {http: {maxRequestsPerConnection: -1}}}"), True),
    ("cp retries -1", D, tp("{connectionPool: {http: {maxRetries: -1}}}"), True),
    ("cp idle nanos", D, tp("{connectionPool: {http: {idleTimeout: 30.000000005s}}}"), True),
    ("cp tcp idle 0", D, tp("{connectionPool: {tcp: {idleTimeout: 0s}}}"), False),
    ("cp streams -1", D, tp("{connectionPool: {http: {maxConcurrentStreams: -1}}}"), True),
    ("cp ka no interval", D, tp("{connectionPool: {http: {http2KeepAlive: {timeout: 5s}}}}"), True),
    (
        "cp ka no timeout",
        D,
        tp("{connectionPool: {http: {http2KeepAlive: {interval: 15s}}}}"),
        True,
    ),
    (
        "cp ka ok",
        D,
        tp("{connectionPool: {http: {http2KeepAlive: {interval: 15s, timeout: 5s}}}}"),
        False,
    ),
    (
        "cp ka bad interval",
        D,
        tp("{connectionPool: {http: {http2KeepAlive: {interval: 15.000000005s, timeout: 5s}}}}"),
        True,
    ),
    (
        "cp ok all",
        D,
        tp(
            "{connectionPool: {tcp: {maxConnections: 7, connectTimeout: 2s}, http: {http1MaxPendingRequests: 2, http2MaxRequests: 11, maxRequestsPerConnection: 5, maxRetries: 4, idleTimeout: 30s, maxConcurrentStreams: 5}}}"
        ),
        False,
    ),
    (
        "lb cookie no name",
        D,
        tp("{loadBalancer: {consistentHash: {minimumRingSize: 1024, httpCookie: {ttl: 3600s}}}}"),
        True,
    ),
    (
        "lb cookie ok",
        D,
        tp(
            "{loadBalancer: {consistentHash: {minimumRingSize: 1024, httpCookie: {name: test, ttl: 3600s}}}}"
        ),
        False,
    ),
    (
        "lb maglev not prime",
        D,
        tp("{loadBalancer: {consistentHash: {maglev: {tableSize: 1000}}}}"),
        True,
    ),
    (
        "lb maglev prime",
        D,
        tp("{loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x}}}"),
        False,
    ),
    (
        "lb dup cookie attr",
        D,
        tp(
            "{loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 3600s, attributes: [{name: SameSite, value: Strict}, {name: SameSite, value: Lax}]}}}}"
        ),
        True,
    ),
    (
        "lb empty cookie attr",
        D,
        tp(
            "{loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 3600s, attributes: [{name: '', value: v}]}}}}"
        ),
        True,
    ),
    (
        "lb unique attrs",
        D,
        tp(
            "{loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 3600s, attributes: [{name: SameSite, value: Strict}, {name: Secure, value: 'true'}]}}}}"
        ),
        False,
    ),
    (
        "lb locality+zoneaware",
        D,
        tp("{loadBalancer: {localityLbSetting: {}, zoneAwareLbSetting: {}}}"),
        True,
    ),
    ("od bad interval", D, tp("{outlierDetection: {interval: 2.000000005s}}"), True),
    ("od bad bet", D, tp("{outlierDetection: {baseEjectionTime: 2.000000005s}}"), True),
    ("od mep 105", D, tp("{outlierDetection: {maxEjectionPercent: 105}}"), True),
    ("od mhp -1", D, tp("{outlierDetection: {minHealthPercent: -1}}"), True),
    ("od mhp 101", D, tp("{outlierDetection: {minHealthPercent: 101}}"), True),
    (
        "od consecutive errors deprecated ok",
        D,
        tp("{outlierDetection: {consecutiveErrors: 101}}"),
        False,
    ),
    (
        "od local origin w/o split",
        D,
        tp("{outlierDetection: {consecutiveLocalOriginFailures: 10}}"),
        True,
    ),
    (
        "od local origin with split",
        D,
        tp(
            "{outlierDetection: {splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 10}}"
        ),
        False,
    ),
    ("tp empty", D, tp("{}"), True),
    ("tls insecure skip + sni ok", D, tp("{tls: {mode: SIMPLE, insecureSkipVerify: true}}"), False),
    ("tls mutual no cert", D, tp("{tls: {mode: MUTUAL}}"), True),
    (
        "tls ISTIO_MUTUAL with certs",
        D,
        tp("{tls: {mode: ISTIO_MUTUAL, clientCertificate: /c}}"),
        True,
    ),
    ("port level empty", D, tp("{portLevelSettings: [{port: {number: 80}}]}"), True),
    ("port level no port", D, tp("{portLevelSettings: [{loadBalancer: {simple: RANDOM}}]}"), True),
    (
        "h2 upgrade with useClientProtocol",
        D,
        tp("{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}"),
        True,
    ),
    (
        "subset dup",
        D,
        "{host: a, subsets: [{name: v1, labels: {v: '1'}}, {name: v1, labels: {v: '2'}}]}",
        True,
    ),
    ("subset no name", D, "{host: a, subsets: [{labels: {v: '1'}}]}", True),
    ("host empty", D, "{host: ''}", True),
    ("proxyProtocol bad version", D, tp("{proxyProtocol: {version: V3}}"), True),
    (
        "tunnel bad protocol",
        D,
        tp("{tunnel: {protocol: FOO, targetHost: h, targetPort: 80}}"),
        True,
    ),
    ("tunnel missing host", D, tp("{tunnel: {targetPort: 80}}"), True),
    ("tunnel ok", D, tp("{tunnel: {protocol: CONNECT, targetHost: h, targetPort: 80}}"), False),
    (
        "workloadSelector + exportTo",
        D,
        "{host: a, workloadSelector: {matchLabels: {a: b}}, exportTo: ['*']}",
        True,
    ),
    ("exportTo dup", D, "{host: a, exportTo: ['.', '.']}", True),
    ("exportTo star plus other", D, "{host: a, exportTo: ['*', 'ns1']}", True),
    ("exportTo tilde plus other", D, "{host: a, exportTo: ['~', 'ns1']}", True),
    ("warmup bad", D, tp("{loadBalancer: {simple: ROUND_ROBIN, warmup: {duration: 0s}}}"), True),
    (
        "warmupDurationSecs with LEAST_REQUEST ok",
        D,
        tp("{loadBalancer: {simple: LEAST_REQUEST, warmupDurationSecs: 10s}}"),
        False,
    ),
    (
        "lb consistentHash minimumRingSize & ringHash both",
        D,
        tp(
            "{loadBalancer: {consistentHash: {httpHeaderName: x, minimumRingSize: 10, ringHash: {minimumRingSize: 10}}}}"
        ),
        True,
    ),
    ("retryBudget percent > 100", D, tp("{retryBudget: {percent: 120}}"), True),
    ("retryBudget ok", D, tp("{retryBudget: {percent: 20, minRetryConcurrency: 5}}"), False),
    (
        "zone aware same region",
        D,
        tp(
            "{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: us-east}]}}, outlierDetection: {interval: 1s}}"
        ),
        True,
    ),
    (
        "zone aware zone in failover",
        D,
        tp(
            "{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east/a, to: eu-west}]}}, outlierDetection: {interval: 1s}}"
        ),
        True,
    ),
    (
        "zone aware wildcard region",
        D,
        tp(
            "{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: '*'}]}}, outlierDetection: {interval: 1s}}"
        ),
        True,
    ),
    (
        "zone aware topology priority",
        D,
        tp(
            "{loadBalancer: {zoneAwareLbSetting: {failoverPriority: [topology.kubernetes.io/zone]}}, outlierDetection: {interval: 1s}}"
        ),
        True,
    ),
    (
        "zone aware ok",
        D,
        tp(
            "{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: eu-west}], failoverPriority: [network]}}, outlierDetection: {interval: 1s}}"
        ),
        False,
    ),
    (
        "zone aware failover without outlier (a warning)",
        D,
        tp("{loadBalancer: {zoneAwareLbSetting: {failover: [{from: us-east, to: eu-west}]}}}"),
        False,
    ),
    ("empty", S, "{}", True),
    ("default", S, "{egress: [{hosts: ['*/*']}]}", False),
    ("selector without labels (a warning)", S, "{workloadSelector: {}, " + E + "}", False),
    ("import local ns wildcard", S, "{egress: [{hosts: ['./*']}]}", False),
    ("import nothing", S, "{egress: [{hosts: ['~/*']}]}", False),
    ("exclude invalid namespace", S, "{egress: [{hosts: ['bad_ns/*']}]}", True),
    ("bad egress host 1", S, "{egress: [{hosts: ['*']}]}", True),
    ("bad egress host 2", S, "{egress: [{hosts: ['/']}]}", True),
    ("empty egress host", S, "{egress: [{hosts: []}]}", True),
    (
        "multiple wildcard egress",
        S,
        "{egress: [{hosts: ['*/foo.com']}, {hosts: ['ns1/bar.com']}]}",
        True,
    ),
    (
        "wildcard egress not at end",
        S,
        "{egress: [{hosts: ['*/foo.com']}, {port: {protocol: http, number: 8080, name: h8080}, hosts: ['ns1/bar.com']}]}",
        True,
    ),
    (
        "invalid port",
        S,
        "{egress: [{port: {protocol: http, number: 1000000, name: ''}, hosts: ['*/*']}]}",
        True,
    ),
    (
        "port without name",
        S,
        "{egress: [{port: {protocol: http, number: 8080}, hosts: ['*/*']}]}",
        False,
    ),
    (
        "UDS bind outbound",
        S,
        "{egress: [{port: {protocol: http, number: 0, name: uds}, hosts: ['ns1/bar.com'], bind: 'unix:///@foo/bar/com'}]}",
        False,
    ),
    (
        "UDS bind inbound",
        S,
        "{ingress: [{port: {protocol: http, number: 0, name: uds}, bind: 'unix:///@foo/bar/com', defaultEndpoint: '127.0.0.1:9999'}], "
        + E
        + "}",
        True,
    ),
    (
        "invalid bind",
        S,
        "{egress: [{port: {protocol: http, number: 0, name: uds}, hosts: ['ns1/bar.com'], bind: 'foobar:///@foo/bar/com'}]}",
        True,
    ),
    (
        "capture mode with uds bind",
        S,
        "{egress: [{port: {protocol: http, number: 0, name: uds}, hosts: ['ns1/bar.com'], bind: 'unix:///@foo/bar/com', captureMode: IPTABLES}]}",
        True,
    ),
    (
        "duplicate UDS bind",
        S,
        "{egress: [{port: {protocol: http, number: 0, name: uds}, hosts: ['ns1/bar.com'], bind: 'unix:///@foo/bar/com'}, {port: {protocol: http, number: 0, name: uds}, hosts: ['ns1/bar.com'], bind: 'unix:///@foo/bar/com'}]}",
        True,
    ),
    (
        "duplicate ports",
        S,
        "{egress: [{port: {protocol: http, number: 90, name: foo}, hosts: ['ns1/bar.com']}, {port: {protocol: tcp, number: 90, name: tcp}, hosts: ['ns2/bar.com']}]}",
        True,
    ),
    ("ingress without port", S, "{ingress: [{defaultEndpoint: '127.0.0.1:110'}], " + E + "}", True),
    (
        "ingress duplicate ports",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:110'}, {port: {protocol: tcp, number: 90, name: bar}, defaultEndpoint: '127.0.0.1:110'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress without default endpoint",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}}], " + E + "}",
        False,
    ),
    (
        "ingress invalid default endpoint v4",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '1.1.1.1:90'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress invalid default endpoint v6",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '[1:1:1:1:1:1:1:1]:90'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress default endpoint uds file",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: 'unix:///var/x.sock'}], "
        + E
        + "}",
        False,
    ),
    (
        "ingress default endpoint uds empty",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: 'unix://'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress default endpoint uds dir",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: 'unix:///var/'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress default endpoint bad port",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:hi'}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress v6 ok",
        S,
        "{ingress: [{port: {protocol: http, number: 90, name: foo}, defaultEndpoint: '[::1]:9999'}], "
        + E
        + "}",
        False,
    ),
    ("just outbound traffic policy", S, "{outboundTrafficPolicy: {mode: ALLOW_ANY}}", False),
    (
        "empty protocol",
        S,
        "{ingress: [{port: {number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999'}], "
        + E
        + "}",
        False,
    ),
    (
        "egress proxy with REGISTRY_ONLY",
        S,
        "{outboundTrafficPolicy: {egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}, "
        + E
        + "}",
        True,
    ),
    (
        "egress proxy ALLOW_ANY",
        S,
        "{outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}, "
        + E
        + "}",
        False,
    ),
    (
        "egress proxy invalid fqdn",
        S,
        "{outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: 'foobar*123', subset: shiny, port: {number: 5000}}}, "
        + E
        + "}",
        True,
    ),
    (
        "egress proxy without port",
        S,
        "{outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny}}, "
        + E
        + "}",
        True,
    ),
    (
        "ALLOW_ANY_DYNAMIC_DNS rejected",
        S,
        "{outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}, " + E + "}",
        True,
    ),
    ("only one wildcarded", S, "{egress: [{hosts: ['*/*', 'test/a.com']}]}", False),
    ("wildcarded ns", S, "{egress: [{hosts: ['*/*', 'test/*']}]}", False),
    ("duplicated wildcard same ns", S, "{egress: [{hosts: ['test/*', 'test/*']}]}", False),
    ("invalid partial wildcard", S, "{egress: [{hosts: ['test/*a.com']}]}", True),
    (
        "ingress tls ISTIO_MUTUAL",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: ISTIO_MUTUAL}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls AUTO_PASSTHROUGH",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: AUTO_PASSTHROUGH}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls invalid protocol",
        S,
        "{ingress: [{port: {protocol: tcp, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls httpsRedirect",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, httpsRedirect: true}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls SAN",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, subjectAltNames: [a]}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls credentialName",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, credentialName: c}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls credentialNames",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, credentialNames: [c]}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls tlsCertificates",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, tlsCertificates: [{serverCertificate: /c, privateKey: /k}]}}], "
        + E
        + "}",
        True,
    ),
    (
        "ingress tls ok",
        S,
        "{ingress: [{port: {protocol: HTTPS, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}}], "
        + E
        + "}",
        False,
    ),
    (
        "valid inbound connection pool",
        S,
        "{inboundConnectionPool: {http: {http1MaxPendingRequests: 1024, http2MaxRequests: 1024, maxRequestsPerConnection: 1024, maxRetries: 1024, idleTimeout: 1m, h2UpgradePolicy: UPGRADE}, tcp: {maxConnections: 1024, connectTimeout: 1m}}, "
        + E
        + "}",
        False,
    ),
    (
        "invalid top-level pool",
        S,
        "{inboundConnectionPool: {http: {http1MaxPendingRequests: -1}}, " + E + "}",
        True,
    ),
    (
        "invalid port-level pool",
        S,
        "{ingress: [{port: {protocol: HTTP, number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999', connectionPool: {tcp: {maxConnections: -1}}}], "
        + E
        + "}",
        True,
    ),
    ("empty inbound pool", S, "{inboundConnectionPool: {}, " + E + "}", True),
    (
        "empty port-level pool",
        S,
        "{ingress: [{port: {protocol: tcp, number: 90, name: foo}, connectionPool: {}}]}",
        True,
    ),
    (
        "http pool on a tcp port (a warning)",
        S,
        "{ingress: [{port: {protocol: tcp, number: 90, name: foo}, connectionPool: {http: {maxRetries: 3}}}]}",
        False,
    ),
    (
        "inbound pool keepalive without timeout",
        S,
        "{inboundConnectionPool: {http: {http2KeepAlive: {interval: 15s}}}}",
        True,
    ),
]


def document(kind: str, spec: str) -> str:
    return f"apiVersion: {API[kind]}\nkind: {kind}\nmetadata: {{name: x, namespace: ns}}\nspec: {spec}\n"


@pytest.mark.parametrize(("title", "kind", "spec", "refused"), CASES, ids=[c[0] for c in CASES])
def test_istio_decides_the_same(title: str, kind: str, spec: str, refused: bool) -> None:
    result = load(document(kind, spec), "t.yaml")
    assert (not result.ok) == refused, [str(d) for d in result.diagnostics]
    assert all(d.path.startswith("spec") for d in result.errors)


WARNED = {
    "selector without labels (a warning)": "will be applied to all services in namespace",
    "zone aware failover without outlier (a warning)": "outlier detection policy must be provided for failover",
    "http pool on a tcp port (a warning)": "only TCP settings will apply",
}


@pytest.mark.parametrize("title", sorted(WARNED))
def test_istio_warns_the_same(title: str) -> None:
    (kind, spec) = next((c[1], c[2]) for c in CASES if c[0] == title)
    warnings = load(document(kind, spec), "t.yaml").warnings
    assert any(WARNED[title] in w.message for w in warnings), [str(w) for w in warnings]
