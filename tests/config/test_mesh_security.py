"""MeshConfig's authorization fields: pathNormalization and ext_authz extensionProviders."""

from __future__ import annotations

from typing import Any

from pilotfish.config.mesh_security import MeshMtls, MeshSecurity, parse_mesh_security


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


def test_mesh_mtls_as_istio_reads_it() -> None:
    """minProtocolVersion TLSV1_3 is TLS 1.3; TLS_AUTO, TLSV1_2 and unset are 1.2 (Istio's
    GetMinTLSVersion); cipherSuites are kept; an unknown version or cipher and `ecdhCurves`
    (which mesh TLS does not support) are reported."""
    for given, read in [(None, "TLSV1_2"), ("TLS_AUTO", "TLSV1_2"), ("TLSV1_2", "TLSV1_2"),
                        ("TLSV1_3", "TLSV1_3")]:  # fmt: skip
        errors: list[tuple[str, str]] = []
        mesh = {} if given is None else {"meshMTLS": {"minProtocolVersion": given}}
        assert parse_mesh_security(mesh, errors).mesh_mtls == MeshMtls(read)
        assert errors == []
    errors = []
    bad: dict[str, Any] = {
        "meshMTLS": {
            "minProtocolVersion": "TLSV1_1",
            "ecdhCurves": ["P-256"],
            "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256", "NOPE"],
        }
    }
    found = parse_mesh_security(bad, errors).mesh_mtls
    assert found == MeshMtls("TLSV1_2", ("ECDHE-RSA-AES128-GCM-SHA256",))
    assert [path for path, _ in errors] == [
        "meshMTLS.ecdhCurves",
        "meshMTLS.minProtocolVersion",
        "meshMTLS.cipherSuites[1]",
    ]
    assert "does not support ECDH curves" in errors[0][1]
