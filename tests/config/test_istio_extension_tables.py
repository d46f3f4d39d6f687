"""Istio's TestValidateTrafficExtension, TestValidateTelemetry, TestValidateTelemetryFilter,
TestValidateProxyConfig and TestValidateHTTPHeaderValue (istio/istio
pkg/config/validation/validation_test.go, commit 86c9f01), every case, written here afresh as
YAML (tests/config/istio_table.py runs them); header values are set on a VirtualService route.
TrafficExtension 23 (a null list item reads as an empty message, as istioctl's protobuf JSON reader
reads it: a null match selects everything and is accepted, a null port is port 0 and refused; Go's
nil map values have no YAML spelling, so a null custom tag, an empty tag, is accepted), Telemetry 16 + 4 access-log filters, ProxyConfig
2, header values 8 (before: 1 decided differently, a false refusal: `%VAR(args)%` with `%` inside
its arguments, now parsed as Envoy's header formatter is)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
T = "TrafficExtension"
LUA = "lua: {inlineCode: 'function envoy_on_request() end'}"
SHA = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"
def w(more: str) -> str:
    return "{wasm: {" + more + "}}"
TRAFFIC_EXTENSIONS: list[Case] = [
 ("te neither wasm nor lua", T, "{}", True),
 ("te valid lua", T, '{lua: {inlineCode: "function envoy_on_request(request_handle)\\n request_handle:headers():add(\'x-foo\', \'bar\')\\nend"}}', False),
 ("te lua empty", T, "{lua: {inlineCode: ''}}", True),
 ("te lua too large", T, "{lua: {inlineCode: '" + "x" * 65537 + "'}}", True),
 ("te valid wasm", T, w("url: 'http://test.com/test'"), False),
 ("te wasm url empty", T, w("url: ''"), True),
 ("te wasm wrong scheme", T, w("url: 'ftp://test.com/test'"), True),
 ("te wasm http sha", T, w("url: 'http://test.com/test', sha256: " + SHA), False),
 ("te wasm short sha", T, w("url: 'http://test.com/test', sha256: 01ba47"), True),
 ("te wasm sha uppercase", T, w("url: 'http://test.com/test', sha256: 01B" + SHA[3:]), True),
 ("te wasm oci", T, w("url: 'oci://test.com/test'"), False),
 ("te wasm no scheme", T, w("url: test.com/test"), False),
 ("te wasm env no name", T, w("url: test.com/test, vmConfig: {env: [{name: '', valueFrom: HOST}]}"), True),
 ("te wasm duplicate env", T, w("url: test.com/test, vmConfig: {env: [{name: ENV1, value: VAL1}, {name: ENV1, value: VAL1}]}"), True),
 ("te lua selector", T, "{selector: {matchLabels: {app: test}}, " + LUA + "}", False),
 ("te lua targetRefs", T, "{targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gateway}], " + LUA + "}", False),
 ("te selector and targetRefs", T, "{selector: {matchLabels: {app: test}}, targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gateway}], " + LUA + "}", True),
 ("te null match", T, "{match: [null], " + LUA + "}", False),
 ("te null port", T, "{match: [{ports: [null]}], " + LUA + "}", True),
 ("te port 0", T, "{match: [{ports: [{number: 0}]}], " + LUA + "}", True),
 ("te port 65536", T, "{match: [{ports: [{number: 65536}]}], " + LUA + "}", True),
 ("te match port", T, "{match: [{mode: CLIENT, ports: [{number: 8080}]}], " + LUA + "}", False),
 ("te plugin name too long", T, w("url: test.com/test, pluginName: " + "a" * 257), True),
]

T = "Telemetry"
TAG = "tracing: [{customTags: {clusterID: {environment: {name: FOO}}}}]"
GWREF = "group: gateway.networking.k8s.io, kind: Gateway"
def vs_header(value: str) -> str:
    return "{hosts: [a], http: [{route: [{destination: {host: a}}], headers: {request: {set: {x-a: '" + value + "'}}}}]}"
TELEMETRY: list[Case] = [
 ("tel empty", T, "{}", False),
 ("tel multiple providers (warning)", T, "{tracing: [{providers: [{name: a}, {name: b}]}]}", False),
 ("tel multiple tracers (warning)", T, "{tracing: [{}, {}]}", False),
 ("tel sampling 101", T, "{tracing: [{randomSamplingPercentage: 101}]}", True),
 ("tel good custom tag", T, "{" + TAG + "}", False),
 ("tel null custom tag", T, "{tracing: [{customTags: {clusterID: null}}]}", False),
 ("tel upsert without value", T, "{metrics: [{overrides: [{tagOverrides: {my-tag: {operation: UPSERT, value: ''}}}]}]}", True),
 ("tel upsert value", T, "{metrics: [{overrides: [{tagOverrides: {my-tag: {operation: UPSERT, value: some-cel-expression}}}]}]}", False),
 ("tel multi access loggings", T, "{accessLogging: [{providers: [{name: envoy}]}, {providers: [{name: otel}]}]}", False),
 ("tel multi access log providers", T, "{accessLogging: [{providers: [{name: envoy}, {name: otel}]}]}", False),
 ("tel good targetRef", T, "{" + TAG + ", targetRef: {" + GWREF + ", name: foo}}", False),
 ("tel targetRef no name", T, "{" + TAG + ", targetRef: {" + GWREF + "}}", True),
 ("tel targetRef namespace", T, "{" + TAG + ", targetRef: {" + GWREF + ", name: foo, namespace: bar}}", True),
 ("tel targetRef wrong group", T, "{" + TAG + ", targetRef: {group: wrong-group, kind: Gateway, name: foo}}", True),
 ("tel targetRef wrong kind", T, "{" + TAG + ", targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}}", True),
 ("tel targetRef and selector", T, "{" + TAG + ", targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}, selector: {matchLabels: {app: httpbin}}}", True),
 ("filter code", T, "{accessLogging: [{filter: {expression: 'response.code >= 400'}}]}", False),
 ("filter mtls", T, "{accessLogging: [{filter: {expression: \"connection.mtls && request.url_path.contains('v1beta3')\"}}]}", False),
 ("filter non-bool", T, "{accessLogging: [{filter: {expression: response.code}}]}", False),
 ("filter parse error", T, "{accessLogging: [{filter: {expression: ')++++'}}]}", True),
 ("pc empty", "ProxyConfig", "{}", False),
 ("pc concurrency -1", "ProxyConfig", "{concurrency: -1}", True),
 ("header foo", "VirtualService", vs_header("foo"), False),
 ("header hostname", "VirtualService", vs_header("%HOSTNAME%"), False),
 ("header escaped", "VirtualService", vs_header("100%%"), False),
 ("header prefix suffix", "VirtualService", vs_header("prefix %HOSTNAME% suffix"), False),
 ("header cert end", "VirtualService", vs_header("%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%"), False),
 ("header dynamic metadata", "VirtualService", vs_header("%DYNAMIC_METADATA(com.test.my_filter)%"), False),
 ("header start time %%", "VirtualService", vs_header("%START_TIME%%"), True),
 ("header abc%123", "VirtualService", vs_header("abc%123"), True),
]

# fmt: on


@pytest.mark.parametrize("case", TRAFFIC_EXTENSIONS, ids=ids(TRAFFIC_EXTENSIONS))
def test_traffic_extensions_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", TELEMETRY, ids=ids(TELEMETRY))
def test_telemetry_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
