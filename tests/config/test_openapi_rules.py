"""The OpenAPI constraints of Istio's CRD schemas, enforced as the API server would (conformance
cases in the spirit of Istio's pkg/config/validation/testdata/crds): each case is a document that
Kubernetes refuses before any webhook runs, and the path and message pilotfish reports: the
schema's, or Istio's webhook wording where its webhook states the same rule (as `istioctl
validate -f`, which runs only the webhook's rules, says it: `webhook_twins`)."""

from __future__ import annotations

import pytest

from pilotfish.config import load

SEC = "security.istio.io/v1"
NET = "networking.istio.io/v1"
TEL = "telemetry.istio.io/v1"
EXT = "extensions.istio.io/v1alpha1"


def errors(api: str, kind: str, spec: str | None) -> list[tuple[str, str]]:
    text = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\n"
    if spec is not None:
        text += f"spec: {spec}\n"
    return [(d.path, d.message) for d in load(text, "c.yaml").errors]


JWT = "{jwtRules: [{issuer: a, %s}]}"
CASES = [
    (
        "empty audience",
        SEC,
        "RequestAuthentication",
        JWT % "audiences: ['']",
        "spec.jwtRules[0].audiences[0]",
        "should be at least 1 chars long",
    ),
    (
        "empty query parameter",
        SEC,
        "RequestAuthentication",
        JWT % "fromParams: ['']",
        "spec.jwtRules[0].fromParams[0]",
        "location query must be non-empty string",
    ),
    (
        "empty cookie",
        SEC,
        "RequestAuthentication",
        JWT % "fromCookies: ['']",
        "spec.jwtRules[0].fromCookies[0]",
        "cookie name must be non-empty string",
    ),
    (
        "empty space-delimited claim",
        SEC,
        "RequestAuthentication",
        JWT % "spaceDelimitedClaims: ['']",
        "spec.jwtRules[0].spaceDelimitedClaims[0]",
        "should be at least 1 chars long",
    ),
    (
        "header name without claim",
        SEC,
        "RequestAuthentication",
        JWT % "outputClaimToHeaders: [{header: x-a}]",
        "spec.jwtRules[0].outputClaimToHeaders[0].claim",
        "outputClaimToHeaders header and claim value must be non-empty string",
    ),
    (
        "header name with a space",
        SEC,
        "RequestAuthentication",
        JWT % "outputClaimToHeaders: [{header: 'x a', claim: sub}]",
        "spec.jwtRules[0].outputClaimToHeaders[0].header",
        "header name x a is not a valid header name",
    ),
    (
        "from-header without name",
        SEC,
        "RequestAuthentication",
        JWT % "fromHeaders: [{prefix: 'Bearer '}]",
        "spec.jwtRules[0].fromHeaders[0].name",
        "header name must be set",
    ),
    (
        "jwt rule not a map",
        SEC,
        "RequestAuthentication",
        "{jwtRules: [a]}",
        "spec.jwtRules[0]",
        "must be a map, got string",
    ),
    (
        "empty port-level mTLS",
        SEC,
        "PeerAuthentication",
        "{selector: {matchLabels: {app: a}}, portLevelMtls: {}}",
        "spec.portLevelMtls",
        "port level mTLS, if defined, must have at least one element",
    ),
    (
        "target ref without name",
        SEC,
        "AuthorizationPolicy",
        "{targetRef: {kind: Gateway, group: gateway.networking.k8s.io}}",
        "spec.targetRef.name",
        "targetRef name must be set",
    ),
    (
        "target ref kind pattern",
        SEC,
        "AuthorizationPolicy",
        "{targetRef: {kind: '1Gateway', group: gateway.networking.k8s.io, name: a}}",
        "spec.targetRef.kind",
        "should match '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'",
    ),
    (
        "warmup without duration",
        NET,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {warmup: {minimumPercent: 10}}}}",
        "spec.trafficPolicy.loadBalancer.warmup.duration",
        "Required value",
    ),
    (
        "negative warmup aggression",
        NET,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: {warmup: {duration: 10s, aggression: -0.1}}}}",
        "spec.trafficPolicy.loadBalancer.warmup.aggression",
        "should be greater than or equal to 0",
    ),
    (
        "two load balancer kinds",
        NET,
        "DestinationRule",
        "{host: a, trafficPolicy: {loadBalancer: "
        "{simple: RANDOM, consistentHash: {useSourceIp: true}}}}",
        "spec.trafficPolicy.loadBalancer",
        "only one of simple, consistentHash may be set (found simple, consistentHash)",
    ),
    (
        "negative concurrency",
        NET.replace("v1", "v1beta1"),
        "ProxyConfig",
        "{concurrency: -1}",
        "spec.concurrency",
        "concurrency must be greater than or equal to 0",
    ),
    (
        "service entry without hosts",
        NET,
        "ServiceEntry",
        "{location: MESH_EXTERNAL}",
        "spec.hosts",
        "service entry must have at least one host",
    ),
    ("service entry without spec", NET, "ServiceEntry", None, "spec", "Required value"),
    (
        "workload group without template",
        NET,
        "WorkloadGroup",
        "{metadata: {labels: {a: b}}}",
        "spec.template",
        "template is required",  # ValidateWorkloadGroup says it at the same path
    ),
    (
        "probe header name pattern",
        NET,
        "WorkloadGroup",
        "{template: {}, probe: {httpGet: {port: 80, httpHeaders: [{name: 'a b', value: c}]}}}",
        "spec.probe.httpGet.httpHeaders[0].name",
        "header name a b is not a valid header name",  # the webhook's, at the same path
    ),
    (
        "empty provider name",
        TEL,
        "Telemetry",
        "{tracing: [{providers: [{name: ''}]}]}",
        "spec.tracing[0].providers[0].name",
        "providers.name may not be empty",
    ),
    (
        "empty custom metric",
        TEL,
        "Telemetry",
        "{metrics: [{overrides: [{match: {customMetric: ''}}]}]}",
        "spec.metrics[0].overrides[0].match.customMetric",
        "customMetric may not be empty",
    ),
    (
        "wasm plugin empty url",
        EXT,
        "WasmPlugin",
        "{url: ''}",
        "spec.url",
        "should be at least 1 chars long",
    ),
    (
        "wasm plugin bad sha256",
        EXT,
        "WasmPlugin",
        "{url: 'http://a', sha256: abc}",
        "spec.sha256",
        "should match '(^$|^[a-f0-9]{64}$)'",
    ),
    (
        "wasm plugin match port unset",
        EXT,
        "WasmPlugin",
        "{url: oci://a, match: [{ports: [{}]}]}",
        "spec.match[0].ports[0].number",
        "Required value",
    ),
    (
        "wasm plugin duplicate env",
        EXT,
        "WasmPlugin",
        "{url: oci://a, vmConfig: {env: [{name: A}, {name: A}]}}",
        "spec.vmConfig.env[1].name",
        'Duplicate value: "A"',
    ),
    (
        "wasm plugin scheme",
        EXT,
        "WasmPlugin",
        "{url: 'ftp://a/b.wasm'}",
        "spec.url",
        "url must have schema one of [http, https, file, oci]",
    ),
    ("wasm plugin without spec", EXT, "WasmPlugin", None, "spec", "Required value"),
    (
        "traffic extension wasm and lua",
        EXT,
        "TrafficExtension",
        "{wasm: {url: oci://a}, lua: {inlineCode: x}}",
        "spec",
        "only one of wasm, lua may be set",
    ),
]


@pytest.mark.parametrize(
    ("api", "kind", "spec", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schema_constraint_is_enforced(
    api: str, kind: str, spec: str | None, path: str, message: str
) -> None:
    assert (path, message) in errors(api, kind, spec)


VALID = [
    (EXT, "WasmPlugin", "{url: 'oci://ghcr.io/a/b:1', sha256: '', imagePullPolicy: Always}"),
    (EXT, "WasmPlugin", "{url: 'ghcr.io/a/b:1', vmConfig: {env: [{name: A, value: b}]}}"),
    (EXT, "TrafficExtension", "{lua: {inlineCode: 'function envoy_on_request(h) end'}}"),
    (NET, "ServiceEntry", "{hosts: ['*x']}"),  # partial wildcard: a warning, not an error
    (NET, "DestinationRule", "{host: a, trafficPolicy: {loadBalancer: {simple: RANDOM}}}"),
]


@pytest.mark.parametrize(("api", "kind", "spec"), VALID)
def test_istio_accepts(api: str, kind: str, spec: str) -> None:
    assert errors(api, kind, spec) == []
