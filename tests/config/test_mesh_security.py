"""MeshConfig's authorization fields: pathNormalization and ext_authz extensionProviders."""

from __future__ import annotations

from pilotfish.config.mesh_security import MeshSecurity, parse_mesh_security


def test_defaults_are_istios() -> None:
    errors: list[tuple[str, str]] = []
    assert parse_mesh_security({}, errors) == MeshSecurity("BASE", ())
    assert parse_mesh_security({"pathNormalization": {"normalization": "DEFAULT"}}, errors) == (
        MeshSecurity("BASE", ())
    )
    assert errors == []


def test_bad_normalization_is_reported_and_base_kept() -> None:
    errors: list[tuple[str, str]] = []
    found = parse_mesh_security({"pathNormalization": {"normalization": "LOOSE"}}, errors)
    assert found.path_normalization == "BASE"
    assert errors and errors[0][0] == "pathNormalization.normalization"


def test_ext_authz_providers() -> None:
    errors: list[tuple[str, str]] = []
    mesh = {
        "extensionProviders": [
            {"name": "zipkin", "zipkin": {"service": "z", "port": 9411}},
            {
                "name": "sample-ext-authz-http",
                "envoyExtAuthzHttp": {
                    "service": "ext-authz.foo.svc.cluster.local",
                    "port": 8000,
                    "includeRequestHeadersInCheck": ["x-ext-authz"],
                    "headersToUpstreamOnAllow": ["x-ext-authz-check-result"],
                },
            },
            {"name": "grpc", "envoyExtAuthzGrpc": {"service": "ext-authz", "port": 0}},
            {"name": "task", "envoyExtAuthzGrpc": {"service": "ext-authz", "port": "9000"}},
        ]
    }
    found = parse_mesh_security(mesh, errors)
    assert [(p.name, p.kind, p.grpc) for p in found.ext_authz_providers] == [
        ("sample-ext-authz-http", "envoyExtAuthzHttp", False),
        ("grpc", "envoyExtAuthzGrpc", True),
        ("task", "envoyExtAuthzGrpc", True),
    ]
    assert found.ext_authz_providers[2].port == 9000  # Istio's task writes ports as strings
    http = found.ext_authz_providers[0]
    assert http.include_request_headers_in_check == ("x-ext-authz",)
    assert http.headers_to_upstream_on_allow == ("x-ext-authz-check-result",)
    assert errors == [
        ("extensionProviders[2].envoyExtAuthzGrpc.port", "0 is not a port in [1, 65535]")
    ]
