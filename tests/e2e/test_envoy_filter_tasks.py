"""EnvoyFilters through real Envoys, with Istio's own YAML: the local rate limit of Istio's
"Enabling Rate Limits using Envoy" task on productpage's sidecar (4 requests a minute, then 429
`local_rate_limited` with `x-local-rate-limit: true`, checked from the ratings pod as the page
does), a Lua filter on the ingress gateway that every answer through it shows, and both gone
again once their EnvoyFilters are deleted. Patches and their order are unit-tested in
`tests/translate/test_envoy_filters.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

KUBE = "samples/bookinfo/platform/kube"
NET = "samples/bookinfo/networking"
# Istio's task page, "Local rate limit", as written there (`append: false` included)
LOCAL_RATE_LIMIT = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: filter-local-ratelimit-svc
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      app: productpage
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener:
          filterChain:
            filter:
              name: "envoy.filters.network.http_connection_manager"
      patch:
        operation: INSERT_BEFORE
        value:
          name: envoy.filters.http.local_ratelimit
          typed_config:
            "@type": type.googleapis.com/udpa.type.v1.TypedStruct
            type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
            value:
              stat_prefix: http_local_rate_limiter
              token_bucket:
                max_tokens: 4
                tokens_per_fill: 4
                fill_interval: 60s
              filter_enabled:
                runtime_key: local_rate_limit_enabled
                default_value:
                  numerator: 100
                  denominator: HUNDRED
              filter_enforced:
                runtime_key: local_rate_limit_enforced
                default_value:
                  numerator: 100
                  denominator: HUNDRED
              response_headers_to_add:
                - append: false
                  header:
                    key: x-local-rate-limit
                    value: 'true'
"""  # noqa: E501 (the page's YAML as written)
GATEWAY_LUA = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: gateway-lua
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      istio: ingressgateway
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: GATEWAY
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter:
              name: envoy.filters.http.router
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.lua
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
          defaultSourceCode:
            inlineString: |
              function envoy_on_response(handle)
                handle:headers():add("x-envoyfilter-lua", "gateway")
              end
"""
OUTBOUND_HEADER = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: ratings-outbound
  namespace: default
spec:
  workloadSelector:
    labels:
      app: ratings
  configPatches:
  - applyTo: VIRTUAL_HOST
    match:
      context: SIDECAR_OUTBOUND
      routeConfiguration:
        portNumber: 9080
        vhost:
          name: productpage.default.svc.cluster.local:9080
    patch:
      operation: MERGE
      value:
        response_headers_to_add:
        - header: {key: x-envoyfilter-outbound, value: ratings}
"""
_ok = pilotfish_ok


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as mesh:
        mesh.apply(f"{KUBE}/bookinfo.yaml", f"{NET}/bookinfo-gateway.yaml")
        mesh.wait_for(lambda: mesh.get("/productpage").status == 200, 60, "productpage")
        yield mesh


def _from_ratings(mesh: LocalMesh, header: str = "x-local-rate-limit") -> tuple[str, str]:
    """(status line and `header`'s line, body) of productpage:9080/productpage asked from the
    ratings pod, as the task's verification step asks it."""
    path = "jsonpath={.items[0].metadata.name}"
    pod = _ok(mesh, "get", "pod", "-l", "app=ratings", "-o", path).strip()
    out = _ok(
        mesh, "exec", pod, "-c", "ratings", "--", "curl", "-sS", "-i",
        "productpage:9080/productpage",
    )  # fmt: skip
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.lower().splitlines()
    limited = next((line for line in lines if line.startswith(f"{header}:")), "")
    return f"{lines[0] if lines else ''} {limited}".strip(), body


def test_istios_local_rate_limit_task(mesh: LocalMesh) -> None:
    applied = _ok(mesh, "apply", "-f", "-", stdin=LOCAL_RATE_LIMIT)
    assert "filter-local-ratelimit-svc" in applied, applied
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the patch reaches the sidecar, 4 tokens go, then 429
        status, body = _from_ratings(mesh)
        seen.append(status)
        if " 429 " in f"{status} ":
            assert "x-local-rate-limit: true" in status, status
            assert body.strip() == "local_rate_limited", body[:200]
            break
        assert " 200" in status and "<title>" in body, (status, body[:200])
        time.sleep(0.2)
    else:
        raise AssertionError(f"never rate limited: {seen}")
    assert sum(" 200" in s for s in seen) >= 4, seen  # the bucket's 4 tokens went first
    _ok(mesh, "delete", "envoyfilter", "filter-local-ratelimit-svc", "-n", "istio-system")
    mesh.wait_for(lambda: " 200" in _from_ratings(mesh)[0], 30, "productpage unlimited again")


def test_a_lua_filter_on_the_gateway(mesh: LocalMesh) -> None:
    assert "x-envoyfilter-lua" not in {k.lower() for k in mesh.get("/productpage").headers}
    _ok(mesh, "apply", "-f", "-", stdin=GATEWAY_LUA)

    def added() -> bool:
        answer = mesh.get("/productpage")
        headers = {k.lower(): v for k, v in answer.headers.items()}
        return answer.status == 200 and headers.get("x-envoyfilter-lua") == "gateway"

    mesh.wait_for(added, 30, "the gateway's Lua header")
    _ok(mesh, "delete", "envoyfilter", "gateway-lua", "-n", "istio-system")
    mesh.wait_for(lambda: not added(), 30, "the Lua filter gone")
    assert mesh.get("/productpage").status == 200


def test_an_outbound_virtual_host_patch_on_the_sidecar_it_selects(mesh: LocalMesh) -> None:
    header = "x-envoyfilter-outbound"
    assert header not in _from_ratings(mesh, header)[0]
    _ok(mesh, "apply", "-f", "-", stdin=OUTBOUND_HEADER)
    patched = f"{header}: ratings"
    mesh.wait_for(lambda: patched in _from_ratings(mesh, header)[0], 30, "the outbound header")
    assert " 200" in _from_ratings(mesh, header)[0]
    assert header not in {k.lower() for k in mesh.get("/productpage").headers}  # not the gateway
    _ok(mesh, "delete", "envoyfilter", "ratings-outbound")
    mesh.wait_for(lambda: header not in _from_ratings(mesh, header)[0], 30, "the header gone")
