"""Conformance with Istio's webhook validation (pkg/config/validation and its *_test.go): each
case is a spec Istio's admission webhook refuses, written here afresh; pilotfish must refuse it
too, naming a field path. `ACCEPTED` holds specs Istio accepts that look close to those."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest

from pilotfish.config import load

N = "networking.istio.io/v1"
S = "security.istio.io/v1"
T = "telemetry.istio.io/v1"
R = "{destination: {host: a}}"

REFUSED = [
    (
        "vs star host bound to mesh",
        N,
        "VirtualService",
        "{hosts: ['*'], http: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs duplicate hosts overlapping wildcard",
        N,
        "VirtualService",
        "{hosts: ['*.foo.com', 'bar.foo.com'], http: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs gateway ref bad namespace",
        N,
        "VirtualService",
        "{hosts: [a], gateways: ['Bad_NS/gw'], http: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs gateway ref empty name",
        N,
        "VirtualService",
        "{hosts: [a], gateways: ['ns/'], http: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs authority twice",
        N,
        "VirtualService",
        "{hosts: [a], http: [{rewrite: {authority: x}, headers: {request: {set: {':authority': y}}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs authority twice host",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {set: {host: x, ':authority': y}}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs jwt claim match outside gateway",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{headers: {'@request.auth.claims.group': {exact: x}}}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs redirect prefix rewrite exact",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {exact: /a}}], redirect: {prefixRewrite: /b}}]}",
    ),
    (
        "vs redirect prefix rewrite regex",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {regex: /a.*}}], redirect: {prefixRewrite: /b}}]}",
    ),
    (
        "vs empty header name match",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{headers: {'': {exact: x}}}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs percent in header value",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {set: {x-a: '50%'}}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs empty regex match",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {regex: ''}}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs unknown grpc status",
        N,
        "VirtualService",
        "{hosts: [a], http: [{fault: {abort: {grpcStatus: NOPE, percentage: {value: 10}}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs unknown retry on",
        N,
        "VirtualService",
        "{hosts: [a], http: [{retries: {attempts: 2, retryOn: 'nope'}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs retries zero attempts with timeout",
        N,
        "VirtualService",
        "{hosts: [a], http: [{retries: {attempts: 0, perTryTimeout: 1s}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs cors bad method",
        N,
        "VirtualService",
        "{hosts: [a], http: [{corsPolicy: {allowMethods: [FETCH]}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs pseudo header removal",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {remove: [':path']}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs mirror and mirrors",
        N,
        "VirtualService",
        "{hosts: [a], http: [{mirror: {host: b}, mirrors: [{destination: {host: c}}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs rewrite uri and regex",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {prefix: /}}], rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs abort without error type? http2",
        N,
        "VirtualService",
        "{hosts: [a], http: [{fault: {abort: {http2Error: x, percentage: {value: 1}}}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs delegate with gateways",
        N,
        "VirtualService",
        "{gateways: [gw], http: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs tls route no match",
        N,
        "VirtualService",
        "{hosts: [a.com], tls: [{route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs sni not subset",
        N,
        "VirtualService",
        "{hosts: [a.com], tls: [{match: [{sniHosts: [b.com]}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs source namespace invalid",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{sourceNamespace: 'Bad_NS'}], route: [{destination: {host: a}}]}]}",
    ),
    (
        "vs redirect code",
        N,
        "VirtualService",
        "{hosts: [a], http: [{redirect: {uri: /a, redirectCode: 200}}]}",
    ),
    (
        "vs direct response status",
        N,
        "VirtualService",
        "{hosts: [a], http: [{directResponse: {status: 601}}]}",
    ),
    (
        "vs max age subsecond",
        N,
        "VirtualService",
        "{hosts: [a], http: [{corsPolicy: {maxAge: 1500ms}, route: [{destination: {host: a}}]}]}",
    ),
    (
        "gw short host",
        N,
        "Gateway",
        "{servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [foo]}]}",
    ),
    (
        "gw unix bind with port",
        N,
        "Gateway",
        "{servers: [{port: {number: 80, name: http, protocol: HTTP}, bind: 'unix:///tmp/s', hosts: ['*']}]}",
    ),
    (
        "gw credentialName with files",
        N,
        "Gateway",
        "{servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, credentialName: c, serverCertificate: /a, privateKey: /b}}]}",
    ),
    (
        "gw partial wildcard host",
        N,
        "Gateway",
        "{servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*x.com']}]}",
    ),
    (
        "gw istio mutual with cert",
        N,
        "Gateway",
        "{servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: ISTIO_MUTUAL, credentialName: c}}]}",
    ),
    (
        "gw crl with simple",
        N,
        "Gateway",
        "{servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*'], tls: {mode: SIMPLE, serverCertificate: /a, privateKey: /b, caCrl: /c}}]}",
    ),
    (
        "gw bad protocol",
        N,
        "Gateway",
        "{servers: [{port: {number: 80, name: http, protocol: FOO}, hosts: ['*']}]}",
    ),
    (
        "gw targetPort",
        N,
        "Gateway",
        "{servers: [{port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}, hosts: ['*']}]}",
    ),
    (
        "dr empty connection pool",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {connectionPool: {}}}",
    ),
    ("dr empty traffic policy", N, "DestinationRule", "{host: a, trafficPolicy: {}}"),
    (
        "dr empty port traffic policy",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}}",
    ),
    (
        "dr h2 upgrade with client protocol",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}}",
    ),
    (
        "dr maglev non prime",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}}}",
    ),
    (
        "dr duplicate cookie attrs",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: 1s, attributes: [{name: a}, {name: a}]}}}}}",
    ),
    (
        "dr cookie without name",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {ttl: 1s}}}}}",
    ),
    (
        "dr insecureSkipVerify with ca",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, caCertificates: /a}}}",
    ),
    (
        "dr insecureSkipVerify with san",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [x]}}}",
    ),
    (
        "dr tunnel and proxy protocol",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {tunnel: {targetHost: a.com, targetPort: 80}, proxyProtocol: {version: V1}}}",
    ),
    (
        "dr min ring and maglev",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 10, maglev: {tableSize: 65537}}}}}",
    ),
    (
        "dr workload selector exportTo",
        N,
        "DestinationRule",
        "{host: a, workloadSelector: {matchLabels: {a: b}}, exportTo: ['*']}",
    ),
    ("dr exportTo duplicate", N, "DestinationRule", "{host: a, exportTo: [x, x]}"),
    (
        "dr http2 keepalive without interval",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {connectionPool: {http: {http2KeepAlive: {timeout: 1s}}}}}",
    ),
    (
        "se unix endpoint several ports",
        N,
        "ServiceEntry",
        "{hosts: [a.com], ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: http2, protocol: HTTP}], resolution: STATIC, endpoints: [{address: 'unix:///sock'}]}",
    ),
    (
        "se dynamic dns with endpoints",
        N,
        "ServiceEntry",
        "{hosts: ['*.a.com'], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DYNAMIC_DNS, endpoints: [{address: 1.1.1.1}]}",
    ),
    (
        "se dynamic dns non wildcard",
        N,
        "ServiceEntry",
        "{hosts: ['a.com'], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DYNAMIC_DNS}",
    ),
    (
        "se dynamic dns with addresses",
        N,
        "ServiceEntry",
        "{hosts: ['*.a.com'], addresses: [1.1.1.1], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DYNAMIC_DNS}",
    ),
    (
        "se exportTo tilde and others",
        N,
        "ServiceEntry",
        "{hosts: ['a.com'], exportTo: ['~', a], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}",
    ),
    (
        "se bad port name",
        N,
        "ServiceEntry",
        "{hosts: ['a.com'], ports: [{number: 80, name: 'Bad_name', protocol: HTTP}], resolution: DNS}",
    ),
    (
        "ap custom with source principals",
        S,
        "AuthorizationPolicy",
        "{action: CUSTOM, provider: {name: p}, rules: [{from: [{source: {principals: [a]}}]}]}",
    ),
    ("ap custom without rules", S, "AuthorizationPolicy", "{action: CUSTOM, provider: {name: p}}"),
    (
        "ap provider with allow",
        S,
        "AuthorizationPolicy",
        "{action: ALLOW, provider: {name: p}, rules: [{}]}",
    ),
    ("ap deny without rules", S, "AuthorizationPolicy", "{action: DENY}"),
    ("ap empty source", S, "AuthorizationPolicy", "{rules: [{from: [{source: {}}]}]}"),
    ("ap empty operation", S, "AuthorizationPolicy", "{rules: [{to: [{operation: {}}]}]}"),
    (
        "ap empty principal",
        S,
        "AuthorizationPolicy",
        "{rules: [{from: [{source: {principals: ['']}}]}]}",
    ),
    (
        "ap bad ip",
        S,
        "AuthorizationPolicy",
        "{rules: [{from: [{source: {ipBlocks: ['1.2.3.4/99']}}]}]}",
    ),
    (
        "ap unknown when key",
        S,
        "AuthorizationPolicy",
        "{rules: [{when: [{key: 'request.nope', values: [a]}]}]}",
    ),
    ("ap when without values", S, "AuthorizationPolicy", "{rules: [{when: [{key: 'source.ip'}]}]}"),
    (
        "ap when bad ip value",
        S,
        "AuthorizationPolicy",
        "{rules: [{when: [{key: 'source.ip', values: ['x.y']}]}]}",
    ),
    ("ap bad port", S, "AuthorizationPolicy", "{rules: [{to: [{operation: {ports: ['99999']}}]}]}"),
    ("ra empty issuer", S, "RequestAuthentication", "{jwtRules: [{issuer: ''}]}"),
    ("ra bad jwks", S, "RequestAuthentication", "{jwtRules: [{issuer: a, jwks: 'not json'}]}"),
    (
        "pa port level without selector",
        S,
        "PeerAuthentication",
        "{portLevelMtls: {80: {mode: STRICT}}}",
    ),
    ("tel empty provider", T, "Telemetry", "{accessLogging: [{providers: [{name: ''}]}]}"),
    (
        "tel tracing sampling out of range",
        T,
        "Telemetry",
        "{tracing: [{randomSamplingPercentage: 101}]}",
    ),
    (
        "tel metrics tag override remove with value",
        T,
        "Telemetry",
        "{metrics: [{overrides: [{tagOverrides: {a: {operation: REMOVE, value: x}}}]}]}",
    ),
    ("sc egress bad namespace", N, "Sidecar", "{egress: [{hosts: ['Bad_NS/*']}]}"),
    ("sc egress short name", N, "Sidecar", "{egress: [{hosts: ['ns/foo']}]}"),
    (
        "sc allow any dynamic dns",
        N,
        "Sidecar",
        "{outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}}",
    ),
    (
        "sc egress proxy with registry only",
        N,
        "Sidecar",
        "{outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: a, port: {number: 80}}}}",
    ),
    ("we bad address", N, "WorkloadEntry", "{address: 'not an address!'}"),
    ("wg bad label", N, "WorkloadGroup", "{metadata: {labels: {'bad key!': a}}, template: {}}"),
    ("pc negative concurrency", "networking.istio.io/v1beta1", "ProxyConfig", "{concurrency: -2}"),
    (
        "ef bad patch",
        "networking.istio.io/v1alpha3",
        "EnvoyFilter",
        "{configPatches: [{applyTo: LISTENER, patch: {operation: ADD}}]}",
    ),
]
DRY_RUN = [
    ("ap dry-run bad value", "{'istio.io/dry-run': 'maybe'}", "{action: ALLOW, rules: [{}]}"),
    (
        "ap dry-run custom",
        "{'istio.io/dry-run': 'true'}",
        "{action: CUSTOM, provider: {name: p}, rules: [{}]}",
    ),
]
ACCEPTED = [
    (
        "ap empty from (protobuf's JSON reader: an unset list; Go's empty non-nil list is refused)",
        S,
        "AuthorizationPolicy",
        "{rules: [{from: []}]}",
    ),
    (
        "direct response status 600 (validateHTTPStatus refuses above 600)",
        N,
        "VirtualService",
        "{hosts: [a], http: [{directResponse: {status: 600}}]}",
    ),
    (
        "empty uri prefix",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {prefix: ''}}], route: [ROUTE]}]}",
    ),
    (
        "host header set on a request",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {set: {Host: x}}}, route: [ROUTE]}]}",
    ),
    (
        "exact match with a uri redirect",
        N,
        "VirtualService",
        "{hosts: [a], http: [{match: [{uri: {exact: /a}}], redirect: {uri: /b}}]}",
    ),
    (
        "jwt claim match on a gateway",
        N,
        "VirtualService",
        "{hosts: [a.com], gateways: [gw], http: [{match: [{headers: {'@request.auth.claims.group': {exact: x}}}], route: [ROUTE]}]}",
    ),
    (
        "escaped percent",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {set: {x-a: '50%%'}}}, route: [ROUTE]}]}",
    ),
    (
        "envoy header command",
        N,
        "VirtualService",
        "{hosts: [a], http: [{headers: {request: {set: {x-a: '%DOWNSTREAM_REMOTE_ADDRESS%'}}}, route: [ROUTE]}]}",
    ),
    (
        "retry status code",
        N,
        "VirtualService",
        "{hosts: [a], http: [{retries: {attempts: 2, retryOn: '503,connect-failure'}, route: [ROUTE]}]}",
    ),
    (
        "maglev prime",
        N,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}}",
    ),
    (
        "partial wildcard for DYNAMIC_DNS",
        N,
        "ServiceEntry",
        "{hosts: ['*.a.com'], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DYNAMIC_DNS}",
    ),
    ("dry-run on ALLOW", S, "AuthorizationPolicy", "{action: ALLOW, rules: [{}]}"),
    (
        "when with header key",
        S,
        "AuthorizationPolicy",
        "{rules: [{when: [{key: 'request.headers[x-a]', values: [b]}]}]}",
    ),
]


def _load(api: str, kind: str, spec: str, annotations: str = "{}") -> list[tuple[str, str]]:
    text = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x, annotations: {annotations}}}\n"
    result = load(text + f"spec: {spec.replace('ROUTE', R)}\n", "c.yaml")
    return [(d.path, d.message) for d in result.errors]


@pytest.mark.parametrize(
    ("api", "kind", "spec"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_istio_refuses(api: str, kind: str, spec: str) -> None:
    errors = _load(api, kind, spec)
    assert errors, "Istio refuses this spec"
    assert all(path.startswith(("spec", "metadata")) for path, _ in errors), errors


@pytest.mark.parametrize(
    ("annotations", "spec"), [c[1:] for c in DRY_RUN], ids=[c[0] for c in DRY_RUN]
)
def test_dry_run_annotation(annotations: str, spec: str) -> None:
    errors = _load(S, "AuthorizationPolicy", spec, annotations)
    assert [p for p, _ in errors] == ["metadata.annotations.istio.io/dry-run"]


@pytest.mark.parametrize(
    ("api", "kind", "spec"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_istio_accepts(api: str, kind: str, spec: str) -> None:
    annotations = "{'istio.io/dry-run': 'true'}" if kind == "AuthorizationPolicy" else "{}"
    assert _load(api, kind, spec, annotations) == []
