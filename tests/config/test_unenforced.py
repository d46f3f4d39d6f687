"""`apply`'s notes for what the mesh stores but does not enforce (`config.unenforced`)."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.unenforced import CLASSIFY_HINT, unenforced_notes

LUA = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua, namespace: default}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND, listener: {filterChain: {filter: {name: %s}}}}
    patch: {operation: INSERT_BEFORE, value: {name: envoy.lua}}
"""
HCM = "envoy.filters.network.http_connection_manager"
STATS = "envoy.filters.network.http_connection_manager, subFilter: {name: istio.stats}"
VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}
"""


def notes(text: str) -> list[str]:
    return [str(d) for obj in load(text, "f.yaml").objects for d in unenforced_notes(obj)]


def test_an_envoy_filter_the_mesh_applies_gets_no_note() -> None:
    assert notes(LUA % HCM) == []


def test_a_patch_of_istios_stats_filter_says_how_to_classify_here() -> None:
    (note,) = notes(LUA % STATS)
    assert note.startswith("f.yaml:1: EnvoyFilter default/lua at spec.configPatches[0]: "), note
    assert note.endswith(CLASSIFY_HINT)
    assert "Telemetry" in note and "tagOverrides" in note


UNAPPLIED = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: mixed, namespace: default}
spec:
  configPatches:
  - applyTo: HTTP_ROUTE
    match: {context: SIDECAR_OUTBOUND, routeConfiguration: {vhost: {name: "reviews:9080"}}}
    patch: {operation: MERGE, value: {timeout: 3s}}
  - applyTo: CLUSTER
    match: {context: ANY, cluster: {service: reviews.default.svc.cluster.local}}
    patch: {operation: MERGE, value: {connect_timeout: 3s}}
  - applyTo: CLUSTER
    match: {context: SIDECAR_OUTBOUND}
    patch: {operation: ADD, value: {name: extra, type: STATIC}}
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND, proxy: {proxyVersion: '^1\\.2.*'}}
    patch: {operation: INSERT_FIRST, value: {name: envoy.filters.http.cors}}
  - applyTo: BOOTSTRAP
    patch: {operation: MERGE, value: {}}
  - applyTo: HTTP_ROUTE
    match: {context: SIDECAR_INBOUND}
    patch: {operation: MERGE, value: {timeout: 3s}}
  - applyTo: ROUTE_CONFIGURATION
    match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 9080}}
    patch: {operation: MERGE, value: {validate_clusters: false}}
"""


def test_patches_that_reach_no_proxy_are_named_with_their_path() -> None:
    found = {n.split(": ", 2)[1]: n.split(": ", 2)[2] for n in notes(UNAPPLIED)}
    prefix = "EnvoyFilter default/mixed at spec.configPatches"
    assert set(found) == {f"{prefix}[{i}]" for i in (3, 4, 6)}, found
    assert "proxyVersion" in found[f"{prefix}[3]"]
    assert "BOOTSTRAP" in found[f"{prefix}[4]"]
    assert "VIRTUAL_HOST with this portNumber" in found[f"{prefix}[6]"]


def test_enforced_kinds_get_no_note() -> None:
    assert notes(VS) == []


def test_a_stats_patch_that_matches_no_proxy_gets_both_notes() -> None:
    text = (LUA % STATS).replace(
        "match: {context: SIDECAR_INBOUND,",
        "match: {context: SIDECAR_INBOUND, proxy: {proxyVersion: '1\\\\.9.*'},",
    )
    (note,) = notes(text)
    assert "not applied: its match.proxy names a proxyVersion" in note, note
    assert note.endswith(CLASSIFY_HINT)


SIDECAR_INGRESS_TLS = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ingress-sidecar, namespace: test}
spec:
  workloadSelector: {labels: {app: httpbin, version: v1}}
  ingress:
  - port: {number: 9080, protocol: HTTPS, name: external}
    defaultEndpoint: 0.0.0.0:80
    tls:
      mode: SIMPLE
      privateKey: "/etc/istio/tls-certs/tls.key"
      serverCertificate: "/etc/istio/tls-certs/tls.crt"
"""


def test_sidecar_ingress_tls_is_applied() -> None:
    """Istio's "Ingress Sidecar TLS Termination" Sidecar: applied (`sidecar_ingress_tls`), so
    nothing to say (the fields it cannot honour are refused by validation, as Istio's)."""
    assert notes(SIDECAR_INGRESS_TLS) == []


WASM = """apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: istio-attributegen-filter
spec:
  selector:
    matchLabels:
      app: reviews
  url: https://storage.googleapis.com/istio-build/proxy/attributegen-359dcd3a19f109c50e97517fe6b1e2676e870c4d.wasm
  imagePullPolicy: Always
  phase: AUTHN
  pluginConfig:
    attributes:
    - output_attribute: "istio_operationId"
      match:
        - value: "ListReviews"
          condition: "request.url_path == '/reviews' && request.method == 'GET'"
"""


def test_a_wasm_plugin_is_said_not_run_at_its_url() -> None:
    """Istio's "Classifying Metrics" page's WasmPlugin: before, only 'is valid but not enforced
    in local mode; ignored' at the document's first line; now the field, its line, the
    attribute no Telemetry can read and how to classify here."""
    result = load(WASM, "attribute_gen_service.yaml", warn_unknown_kinds=True)
    [said] = [str(d) for d in result.diagnostics]
    assert said.startswith(
        "attribute_gen_service.yaml:9: WasmPlugin default/istio-attributegen-filter at spec.url: "
        "not applied: these Envoys fetch and run no Wasm module"
    ), said
    assert "filter_state['wasm.istio_operationId'] is empty on every request" in said, said
    assert said.endswith(CLASSIFY_HINT.split("): ", 1)[1]), said
    other = WASM.replace("attributegen-", "other-").split("  pluginConfig:")[0]
    [plain] = [str(d) for d in load(other, "w.yaml", warn_unknown_kinds=True).diagnostics]
    assert plain.endswith("at spec.url: not applied: these Envoys fetch and run no Wasm module "
                          "(the WasmPlugin is validated, then ignored)"), plain  # fmt: skip
