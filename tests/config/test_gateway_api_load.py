"""Gateway API documents read as the API server reads them on `kubectl apply`: served kinds and
versions, the CRDs' types, defaults and rules, each problem naming file, line and field path;
kinds not served yet are ignored with a warning saying so; Istio's kinds are unaffected."""

from __future__ import annotations

import pytest

from pilotfish.config.kinds import is_gateway_api, resolve_kind
from pilotfish.config.load import load

GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
"""

ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: foo
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: {path_type}
        value: {path}
    filters:
    - type: RequestRedirect
      requestHeaderModifier:
        add:
        - name: a
          value: b
    backendRefs:
    - name: svc
      weight: 2000000
    timeouts:
      request: 1s
      backendRequest: 2s
"""


def errors(text: str) -> list[str]:
    result = load(text, "f.yaml", warn_unknown_kinds=True)
    return [str(d) for d in result.errors]


def test_valid_documents_are_kept_as_read() -> None:
    result = load(GATEWAY, "gw.yaml", warn_unknown_kinds=True)
    assert result.ok and not result.diagnostics
    assert [(d.kind, d.data["metadata"]["name"]) for d in result.others] == [("Gateway", "gw")]
    assert result.objects == []  # never an Istio object: Istio's Gateway has the same kind name


def test_route_problems_name_file_line_and_path() -> None:
    found = errors(ROUTE.format(path_type="Exact", path="productpage"))
    assert found == [
        "f.yaml:13: HTTPRoute foo/r at spec.rules[0].matches[0].path.value: value must be an"
        " absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
        "f.yaml:15: HTTPRoute foo/r at spec.rules[0].filters[0]: filter.requestHeaderModifier"
        " must be nil if the filter.type is not RequestHeaderModifier",
        "f.yaml:15: HTTPRoute foo/r at spec.rules[0].filters[0]: filter.requestRedirect must be"
        " specified for RequestRedirect filter.type",
        "f.yaml:10: HTTPRoute foo/r at spec.rules[0]: RequestRedirect filter must not be used"
        " together with backendRefs",
        "f.yaml:21: HTTPRoute foo/r at spec.rules[0].backendRefs[0]: Must have port for Service"
        " reference",
        "f.yaml:22: HTTPRoute foo/r at spec.rules[0].backendRefs[0].weight: Invalid value:"
        " 2000000: must be between 0 and 1000000",
        "f.yaml:23: HTTPRoute foo/r at spec.rules[0].timeouts: backendRequest timeout cannot be"
        " longer than request timeout",
    ]


def test_types_and_enums_are_checked_with_paths() -> None:
    found = errors(ROUTE.format(path_type="Prefix", path="/x"))
    assert found[0] == (
        "f.yaml:12: HTTPRoute foo/r at spec.rules[0].matches[0].path.type: unsupported value"
        " 'Prefix': must be one of 'Exact', 'PathPrefix' or 'RegularExpression'"
    )
    bad_port = GATEWAY.replace("port: 80", "port: eighty")
    assert errors(bad_port) == [
        "f.yaml:9: Gateway default/gw at spec.listeners[0].port: must be an integer, got string"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("  gatewayClassName: istio\n", "at spec.gatewayClassName: Required value"),
        (
            "port: 80",
            "at spec.listeners[0].port: Invalid value: 70000: must be between 1 and 65535",
        ),
        ("name: http", 'at spec.listeners[0].name: Invalid value: "Http": must be a lowercase'),
        ("protocol: HTTP", "tls must be specified for protocols ['HTTPS', 'TLS']"),
    ],
)
def test_gateway_rules(change: str, message: str) -> None:
    replacement = {
        "  gatewayClassName: istio\n": "",
        "port: 80": "port: 70000",
        "name: http": "name: Http",
        "protocol: HTTP": "protocol: HTTPS",
    }[change]
    found = errors(GATEWAY.replace(change, replacement))
    assert any(message in line for line in found), found


def test_duplicate_listener_names() -> None:
    twice = GATEWAY + "  - name: http\n    port: 81\n    protocol: HTTP\n"
    assert errors(twice) == [
        "f.yaml:7: Gateway default/gw at spec.listeners: Listener name must be unique within"
        " the Gateway"
    ]


def test_unserved_version_and_kind() -> None:
    assert errors(GATEWAY.replace("/v1\n", "/v1alpha9\n")) == [
        "f.yaml:1: Gateway default/gw at apiVersion: gateway.networking.k8s.io/v1alpha9 is not"
        " served for Gateway (served: gateway.networking.k8s.io/v1,"
        " gateway.networking.k8s.io/v1beta1)"
    ]
    udp = GATEWAY.replace("kind: Gateway", "kind: UDPRoute")
    result = load(udp, "f.yaml", warn_unknown_kinds=True)
    assert result.ok and result.others == []
    assert "UDPRoute ignored: this kind of the Kubernetes Gateway API" in str(result.warnings[0])


def test_command_line_names() -> None:
    assert resolve_kind("gtw") == resolve_kind("gateways.gateway.networking.k8s.io")
    found = resolve_kind("gtw")
    assert found is not None and found.group == "gateway.networking.k8s.io"
    istio = resolve_kind("gateway")
    assert istio is not None and istio.group == "networking.istio.io"  # as istioctl
    for typed, kind in (
        ("httproutes", "HTTPRoute"),
        ("gc", "GatewayClass"),
        ("refgrant", "ReferenceGrant"),
    ):
        found = resolve_kind(typed)
        assert found is not None and found.kind == kind
    gc = resolve_kind("gatewayclass")
    assert gc is not None and not gc.namespaced
    assert is_gateway_api("udproutes") and is_gateway_api("udproute.gateway.networking.k8s.io")
    assert not is_gateway_api("gtw") and not is_gateway_api("grpcroute")


L4 = """apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: t
spec:
  parentRefs:
  - name: gw
  rules: []
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: g
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - method: {type: Exact}
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: x}
    backendRefs:
    - name: svc
"""


def test_grpc_and_tcp_route_rules() -> None:
    assert errors(L4) == [
        "f.yaml:8: TCPRoute default/t at spec.rules: Required value: at least one rule",
        "f.yaml:19: GRPCRoute default/g at spec.rules[0].matches[0].method: One or both of"
        " 'service' or 'method' must be specified",
        "f.yaml:21: GRPCRoute default/g at spec.rules[0].filters[0].type: Unsupported value:"
        ' "URLRewrite": supported values: "RequestHeaderModifier", "ResponseHeaderModifier",'
        ' "RequestMirror", "ExtensionRef"',
        "f.yaml:24: GRPCRoute default/g at spec.rules[0].backendRefs[0]: Must have port for"
        " Service reference",
    ]
