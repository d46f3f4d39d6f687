"""Istio's validation tables for RequestAuthentication, WorkloadEntry, WorkloadGroup, ProxyConfig,
WasmPlugin (istio/istio pkg/config/validation/validation_test.go) and EnvoyFilter
(pkg/config/validation/envoyfilter/envoyfilter_test.go), written here afresh as YAML: each case
is accepted or refused as Istio's webhook decides, and a refusal names a field path.

Cases per kind: RequestAuthentication 27, WorkloadEntry 8, WorkloadGroup 9, ProxyConfig 2,
WasmPlugin 18, EnvoyFilter 20 (84; before this module's rules, 8 were decided differently; the
last, a patch value of the wrong type, since patch values are read as Envoy messages:
test_envoy_filter_values)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest

from pilotfish.config import load

RA, WE, WG = "RequestAuthentication", "WorkloadEntry", "WorkloadGroup"
PC, WP, EF = "ProxyConfig", "WasmPlugin", "EnvoyFilter"
API = {
    RA: "security.istio.io/v1",
    WE: "networking.istio.io/v1",
    WG: "networking.istio.io/v1",
    PC: "networking.istio.io/v1beta1",
    WP: "extensions.istio.io/v1alpha1",
    EF: "networking.istio.io/v1alpha3",
}
META = "{name: x, namespace: ns}"

# fmt: off
CASES: list[tuple[str, str, str, bool] | tuple[str, str, str, bool, str]] = [
    ('ra empty spec', RA, '{}', False),
    ('ra empty selector', RA, '{selector: {}}', False),
    ('ra dry-run annotation', RA, '{}', True, "{name: x, namespace: ns, annotations: {istio.io/dry-run: 'true'}}"),
    ('ra default name selector', RA, '{selector: {matchLabels: {app: httpbin}}}', False, '{name: default, namespace: istio-system}'),
    ('ra empty jwt rule', RA, '{jwtRules: [{}]}', True),
    ('ra empty issuer', RA, "{jwtRules: [{issuer: ''}]}", True),
    ('ra empty issuer with jwksUri', RA, "{jwtRules: [{jwksUri: 'https://foo.com/cert'}]}", False),
    ('ra jwksUri no scheme', RA, '{jwtRules: [{issuer: foo.com, jwksUri: foo.com}]}', True),
    ('ra jwksUri bad port', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com:not-a-number'}]}", True),
    ('ra empty label value', RA, "{selector: {matchLabels: {app: httpbin, version: ''}}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", False),
    ('ra empty label key', RA, "{selector: {matchLabels: {app: httpbin, '': v1}}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra good targetRef', RA, "{targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", False),
    ('ra targetRef no name', RA, "{targetRef: {group: gateway.networking.k8s.io, kind: Gateway}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra targetRef namespace', RA, "{targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra targetRef wrong group', RA, "{targetRef: {group: wrong-group, kind: Gateway, name: foo}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra targetRef wrong kind', RA, "{targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra targetRef and selector', RA, "{targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}, selector: {matchLabels: {app: httpbin}}, jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com/cert'}]}", True),
    ('ra empty header name', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', fromHeaders: [{name: '', prefix: 'Bearer '}]}]}", True),
    ('ra empty param', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', fromParams: ['']}]}", True),
    ('ra good header', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', fromHeaders: [{name: x-foo, prefix: 'Bearer '}]}]}", False),
    ('ra empty cookie', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', fromCookies: ['', foo]}]}", True),
    ('ra jwks ok', RA, '{jwtRules: [{issuer: foo.com, jwks: \'{ "keys":[ {"e":"AQAB","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","kty":"RSA","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfkiEm4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fnMQ"}]}\', fromHeaders: [{name: x-foo, prefix: \'Bearer \'}]}]}', False),
    ('ra jwks error', RA, "{jwtRules: [{issuer: foo.com, jwks: foo, fromHeaders: [{name: x-foo, prefix: 'Bearer '}]}]}", True),
    ('ra empty claim to header', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', outputClaimToHeaders: [{}]}]}", True),
    ('ra empty claim', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', outputClaimToHeaders: [{header: x-jwt-claim, claim: ''}]}]}", True),
    ('ra empty header', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', outputClaimToHeaders: [{header: '', claim: sub}]}]}", True),
    ('ra bad header', RA, "{jwtRules: [{issuer: foo.com, jwksUri: 'https://foo.com', outputClaimToHeaders: [{header: 'abc%123', claim: sub}]}]}", True),
    ('we valid', WE, '{address: 1.2.3.4}', False),
    ('we missing address', WE, '{}', True),
    ('we network without address', WE, '{network: network-2}', False),
    ('we unix', WE, "{address: 'unix:///lon/google/com'}", False),
    ('we unix with ports', WE, "{address: 'unix:///lon/google/com', ports: {'7777': 7777}}", True),
    ('we fqdn', WE, "{address: validdns.com, ports: {'7777': 7777}}", False),
    ('we fqdn with port', WE, "{address: 'invaliddns.com:9443', ports: {'7777': 7777}}", True),
    ('we ip', WE, "{address: 172.16.1.1, ports: {'7777': 7777}}", False),
    ('wg valid', WG, '{template: {}}', False),
    ('wg bad label', WG, "{template: {}, metadata: {labels: {'.': '~'}}}", True),
    ('wg probe no method', WG, '{template: {}, probe: {}}', True),
    ('wg probe http empty', WG, '{template: {}, probe: {httpGet: {}}}', True),
    ('wg probe http ok', WG, '{template: {}, probe: {httpGet: {port: 5}}}', False),
    ('wg probe tcp empty', WG, '{template: {}, probe: {tcpSocket: {}}}', True),
    ('wg probe tcp ok', WG, '{template: {}, probe: {tcpSocket: {port: 5}}}', False),
    ('wg probe exec empty', WG, '{template: {}, probe: {exec: {}}}', True),
    ('wg probe exec ok', WG, '{template: {}, probe: {exec: {command: [foo, bar]}}}', False),
    ('pc empty', PC, '{}', False),
    ('pc concurrency -1', PC, '{concurrency: -1}', True),
    ('wasm empty', WP, '{}', True),
    ('wasm ftp', WP, "{url: 'ftp://test.com/test'}", True),
    ('wasm http', WP, "{url: 'http://test.com/test'}", False),
    ('wasm http sha', WP, "{url: 'http://test.com/test', sha256: 01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b}", False),
    ('wasm short sha', WP, "{url: 'http://test.com/test', sha256: 01ba47}", True),
    ('wasm bad sha', WP, "{url: 'http://test.com/test', sha256: test}", True),
    ('wasm uppercase sha', WP, "{url: 'http://test.com/test', sha256: 01Ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b}", True),
    ('wasm oci', WP, "{url: 'oci://test.com/test'}", False),
    ('wasm no scheme', WP, '{url: test.com/test}', False),
    ('wasm empty env name', WP, "{url: test.com/test, vmConfig: {env: [{name: '', valueFrom: HOST}]}}", True),
    ('wasm dup env', WP, '{url: test.com/test, vmConfig: {env: [{name: ENV1, value: VAL1}, {name: ENV1, value: VAL1}]}}', True),
    ('wasm targetRef gateway', WP, "{url: 'http://test.com/test', targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}}", False),
    ('wasm targetRef service', WP, "{url: 'http://test.com/test', targetRef: {group: '', kind: Service, name: foo}}", False),
    ('wasm targetRef namespace', WP, "{url: 'http://test.com/test', targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}}", True),
    ('wasm targetRef no name', WP, "{url: 'http://test.com/test', targetRef: {group: gateway.networking.k8s.io, kind: Gateway}}", True),
    ('wasm targetRef wrong group', WP, "{url: 'http://test.com/test', targetRef: {group: wrong-group, kind: Gateway, name: foo}}", True),
    ('wasm targetRef wrong kind', WP, "{url: 'http://test.com/test', targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}}", True),
    ('wasm targetRef and selector', WP, "{url: 'http://test.com/test', targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}, selector: {matchLabels: {app: httpbin}}}", True),
    ('ef empty', EF, '{}', False),
    ('ef selector without labels', EF, '{workloadSelector: {}}', False),
    ('ef missing applyTo', EF, '{configPatches: [{patch: {operation: REMOVE}}]}', True),
    ('ef missing patch', EF, '{configPatches: [{applyTo: LISTENER}]}', True),
    ('ef missing operation', EF, '{configPatches: [{applyTo: LISTENER, patch: {}}]}', True),
    ('ef missing value', EF, '{configPatches: [{applyTo: LISTENER, patch: {operation: ADD}}]}', True),
    ('ef bad proxyVersion regex', EF, "{configPatches: [{applyTo: LISTENER, match: {proxy: {proxyVersion: '%#@~++==`24c234`'}}, patch: {operation: REMOVE}}]}", True),
    ('ef good proxyVersion regex', EF, "{configPatches: [{applyTo: LISTENER, match: {proxy: {proxyVersion: 'release-1\\.2-23434'}}, patch: {operation: REMOVE}}]}", False),
    ('ef listener with cluster match', EF, '{configPatches: [{applyTo: LISTENER, match: {cluster: {}}, patch: {operation: REMOVE}}]}', True),
    ('ef filter match without name', EF, "{configPatches: [{applyTo: NETWORK_FILTER, match: {listener: {filterChain: {sni: '124', filter: {}}}}, patch: {operation: REMOVE}}]}", True),
    ('ef subfilter on network filter', EF, '{configPatches: [{applyTo: NETWORK_FILTER, match: {listener: {filterChain: {filter: {name: random, subFilter: {}}}}}, patch: {operation: REMOVE}}]}', True),
    ('ef subfilter under non-HCM', EF, '{configPatches: [{applyTo: HTTP_FILTER, match: {listener: {filterChain: {filter: {name: random, subFilter: {}}}}}, patch: {operation: REMOVE}}]}', True),
    ('ef subfilter without name', EF, '{configPatches: [{applyTo: HTTP_FILTER, match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {}}}}}, patch: {operation: REMOVE}}]}', True),
    ('ef virtual host with cluster match', EF, '{configPatches: [{applyTo: VIRTUAL_HOST, match: {cluster: {}}, patch: {operation: REMOVE}}]}', True),
    ('ef cluster with listener match', EF, '{configPatches: [{applyTo: CLUSTER, match: {listener: {}}, patch: {operation: REMOVE}}]}', True),
    ('ef happy', EF, "{configPatches: [{applyTo: CLUSTER, match: {cluster: {}}, patch: {operation: ADD, value: {lb_policy: RING_HASH}}}, {applyTo: NETWORK_FILTER, match: {listener: {filterChain: {name: envoy.tcp_proxy}}}, patch: {operation: INSERT_BEFORE, value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz}}}}, {applyTo: NETWORK_FILTER, match: {listener: {filterChain: {name: envoy.tcp_proxy}}}, patch: {operation: INSERT_FIRST, value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz}}}}]}", False),
    ('ef v2 type', EF, "{configPatches: [{applyTo: NETWORK_FILTER, match: {listener: {filterChain: {name: envoy.tcp_proxy}}}, patch: {operation: INSERT_FIRST, value: {typed_config: {'@type': type.googleapis.com/envoy.config.filter.network.ext_authz.v2.ExtAuthz}}}}]}", True),
    ('ef deprecated filter name', EF, '{configPatches: [{applyTo: HTTP_FILTER, match: {listener: {filterChain: {filter: {name: envoy.http_connection_manager}}}}, patch: {operation: INSERT_FIRST, value: {}}}]}', False),
    ('ef duration value', EF, '{configPatches: [{applyTo: CLUSTER, patch: {operation: ADD, value: {dns_refresh_rate: 500ms}}}]}', False),
    ('ef cluster value wrong type', EF, '{configPatches: [{applyTo: CLUSTER, match: {cluster: {}}, patch: {operation: ADD, value: {name: false}}}]}', True),
]
# fmt: on


def refused(kind: str, spec: str, meta: str = META) -> tuple[bool, list[str]]:
    text = f"apiVersion: {API[kind]}\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"
    result = load(text, "t.yaml")
    assert all(d.path.startswith(("spec", "metadata")) for d in result.errors)
    return not result.ok, [str(d) for d in result.diagnostics]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_istio_decides_the_same(
    case: tuple[str, str, str, bool] | tuple[str, str, str, bool, str],
) -> None:
    kind, spec, istio_refuses = case[1], case[2], case[3]
    got, diagnostics = refused(kind, spec, *case[4:])
    assert got == istio_refuses, diagnostics


WARNED = {
    "ra jwks private key": "contains private key material",
    "ef selector without labels": "workload selector specified without labels",
}


def test_istio_warns_the_same() -> None:
    key = '{"keys":[{"kty":"RSA","e":"AQAB","kid":"k","n":"xAE7","d":"jJVK"}]}'
    text = f"apiVersion: {API[RA]}\nkind: {RA}\nmetadata: {META}\nspec: {{jwtRules: [{{issuer: foo.com, jwks: '{key}'}}]}}\n"
    result = load(text, "t.yaml")
    assert result.ok and any(WARNED["ra jwks private key"] in w.message for w in result.warnings)
    text = (
        f"apiVersion: {API[EF]}\nkind: {EF}\nmetadata: {META}\nspec: {{workloadSelector: {{}}}}\n"
    )
    result = load(text, "t.yaml")
    assert any(WARNED["ef selector without labels"] in w.message for w in result.warnings), [
        str(w) for w in result.warnings
    ]
