"""The authorization part of Istio's MeshConfig (the `istio` ConfigMap's `mesh` key), parsed.

Honoured fields, with Istio's names and defaults: `pathNormalization.normalization` (NONE, BASE
(default; DEFAULT means BASE), MERGE_SLASHES, DECODE_AND_MERGE_SLASHES),
`defaultConfig.gatewayTopology.numTrustedProxies` (0), `trustDomainAliases` (none) and the
`extensionProviders` of kind `envoyExtAuthzHttp` / `envoyExtAuthzGrpc` (the providers CUSTOM
AuthorizationPolicies delegate to), and `meshMTLS` (`MeshMtls`: the TLS a sidecar's inbound mTLS
accepts; `minProtocolVersion` TLS_AUTO (default: TLS 1.2), TLSV1_2 or TLSV1_3, `cipherSuites`
(default: Istio's list, `translate.mtls`); `ecdhCurves` is refused, as Istio's validation refuses
it). Other provider kinds belong to `mesh_telemetry`. Parsing never raises: problems come back as
(field path, message) pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pilotfish.config.ciphers import is_valid_cipher_suite

NORMALIZATIONS = ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
MESH_TLS_VERSIONS = ("TLS_AUTO", "TLSV1_2", "TLSV1_3")  # MeshConfig.TLSConfig.TLSProtocol
EXT_AUTHZ_KINDS = ("envoyExtAuthzHttp", "envoyExtAuthzGrpc")
Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class ExtAuthzProvider:
    """One `envoyExtAuthzHttp`/`envoyExtAuthzGrpc` provider (Istio's fields, snake_case)."""

    name: str
    kind: str
    service: str = ""
    port: int = 0
    timeout: str = ""
    fail_open: bool = False
    status_on_error: str = ""
    path_prefix: str = ""
    include_request_headers_in_check: tuple[str, ...] = ()
    include_additional_headers_in_check: tuple[tuple[str, str], ...] = ()
    headers_to_upstream_on_allow: tuple[str, ...] = ()
    headers_to_downstream_on_allow: tuple[str, ...] = ()
    headers_to_downstream_on_deny: tuple[str, ...] = ()
    include_request_body_in_check: bool = False
    max_request_bytes: int = 0
    allow_partial_message: bool = False
    pack_as_bytes: bool = False

    @property
    def grpc(self) -> bool:
        return self.kind == "envoyExtAuthzGrpc"


@dataclass(frozen=True)
class MeshMtls:
    """MeshConfig `meshMTLS`, as Istio's BuildInboundTLS reads it for a sidecar's inbound mTLS."""

    min_version: str = "TLSV1_2"  # TLSV1_2 | TLSV1_3 (TLS_AUTO and unset read as Istio's 1.2)
    cipher_suites: tuple[str, ...] = ()  # (): Istio's default list (`translate.mtls`)


DEFAULT_MESH_MTLS = MeshMtls()


@dataclass(frozen=True)
class MeshSecurity:
    path_normalization: str = "BASE"
    ext_authz_providers: tuple[ExtAuthzProvider, ...] = ()
    num_trusted_proxies: int = 0
    trust_domain_aliases: tuple[str, ...] = ()
    mesh_mtls: MeshMtls = DEFAULT_MESH_MTLS


def _strings(value: Any, path: str, errors: Errors) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append((path, "must be a list of strings"))
        return ()
    return tuple(value)


def _provider(name: str, kind: str, body: Any, path: str, errors: Errors) -> ExtAuthzProvider:
    if not isinstance(body, dict):
        errors.append((path, "must be a map"))
        return ExtAuthzProvider(name, kind)
    service = body.get("service")
    if not isinstance(service, str) or not service:
        errors.append((f"{path}.service", "is required"))
    port = body.get("port", 0)
    if isinstance(port, str) and port.isdigit():  # protobuf JSON: uint32 may be a string
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        errors.append((f"{path}.port", f"{port!r} is not a port in [1, 65535]"))
        port = 0
    body_check = body.get("includeRequestBodyInCheck") or {}
    additional = body.get("includeAdditionalHeadersInCheck") or {}
    if not isinstance(additional, dict):
        errors.append((f"{path}.includeAdditionalHeadersInCheck", "must be a map"))
        additional = {}
    return ExtAuthzProvider(
        name=name,
        kind=kind,
        service=str(service or ""),
        port=port,
        timeout=str(body.get("timeout") or ""),
        fail_open=bool(body.get("failOpen", False)),
        status_on_error=str(body.get("statusOnError") or ""),
        path_prefix=str(body.get("pathPrefix") or ""),
        include_request_headers_in_check=_strings(
            body.get("includeRequestHeadersInCheck", body.get("includeHeadersInCheck")),
            f"{path}.includeRequestHeadersInCheck",
            errors,
        ),
        include_additional_headers_in_check=tuple(
            sorted((str(k), str(v)) for k, v in additional.items())
        ),
        headers_to_upstream_on_allow=_strings(
            body.get("headersToUpstreamOnAllow"), f"{path}.headersToUpstreamOnAllow", errors
        ),
        headers_to_downstream_on_allow=_strings(
            body.get("headersToDownstreamOnAllow"), f"{path}.headersToDownstreamOnAllow", errors
        ),
        headers_to_downstream_on_deny=_strings(
            body.get("headersToDownstreamOnDeny"), f"{path}.headersToDownstreamOnDeny", errors
        ),
        include_request_body_in_check=bool(body_check),
        max_request_bytes=int(body_check.get("maxRequestBytes") or 0)
        if isinstance(body_check, dict)
        else 0,
        allow_partial_message=bool(body_check.get("allowPartialMessage"))
        if isinstance(body_check, dict)
        else False,
        pack_as_bytes=bool(body_check.get("packAsBytes"))
        if isinstance(body_check, dict)
        else False,
    )


def parse_mesh_security(mesh: dict[str, Any], errors: Errors) -> MeshSecurity:
    raw = mesh.get("pathNormalization") or {}
    mode = str(raw.get("normalization") or "BASE") if isinstance(raw, dict) else "BASE"
    mode = "BASE" if mode == "DEFAULT" else mode
    if mode not in NORMALIZATIONS:
        errors.append(
            (
                "pathNormalization.normalization",
                f"{mode!r} is not one of {', '.join(NORMALIZATIONS)}",
            )
        )
        mode = "BASE"
    providers = []
    for index, entry in enumerate(mesh.get("extensionProviders") or []):
        if not isinstance(entry, dict):
            continue
        for kind in EXT_AUTHZ_KINDS:
            if kind in entry:
                path = f"extensionProviders[{index}].{kind}"
                providers.append(
                    _provider(str(entry.get("name") or ""), kind, entry[kind], path, errors)
                )
    return MeshSecurity(
        mode,
        tuple(providers),
        _trusted_proxies(mesh, errors),
        _aliases(mesh, errors),
        _mesh_mtls(mesh.get("meshMTLS"), errors),
    )


def _mesh_mtls(mesh_mtls: Any, errors: Errors) -> MeshMtls:
    """`meshMTLS` as Istio reads it: `minProtocolVersion` TLSV1_3 is TLS 1.3, anything else TLS
    1.2 (`GetMinTLSVersion`); `cipherSuites` replace the default list (a name BoringSSL does not
    know is reported and left out: Envoy would refuse the listener)."""
    if mesh_mtls is None:
        return MeshMtls()
    if not isinstance(mesh_mtls, dict):
        errors.append(("meshMTLS", "must be a map"))
        return MeshMtls()
    if mesh_mtls.get("ecdhCurves") is not None:
        message = "mesh TLS does not support ECDH curves configuration"
        errors.append(("meshMTLS.ecdhCurves", message))
    version = mesh_mtls.get("minProtocolVersion", "TLS_AUTO")
    if version not in MESH_TLS_VERSIONS:
        message = f"{version!r} is not one of {', '.join(MESH_TLS_VERSIONS)}"
        errors.append(("meshMTLS.minProtocolVersion", message))
    ciphers = _strings(mesh_mtls.get("cipherSuites"), "meshMTLS.cipherSuites", errors)
    for index, name in enumerate(ciphers):
        if not is_valid_cipher_suite(name):
            errors.append((f"meshMTLS.cipherSuites[{index}]", f"{name!r} is not a cipher suite"))
    return MeshMtls(
        "TLSV1_3" if version == "TLSV1_3" else "TLSV1_2",
        tuple(dict.fromkeys(c for c in ciphers if is_valid_cipher_suite(c))),
    )


def _trusted_proxies(mesh: dict[str, Any], errors: Errors) -> int:
    return trusted_proxies_in(mesh.get("defaultConfig"), "defaultConfig", errors) or 0


def trusted_proxies_in(proxy_config: Any, where: str, errors: Errors) -> int | None:
    """`gatewayTopology.numTrustedProxies` of a ProxyConfig map (the mesh's `defaultConfig`, or
    a gateway pod's `proxy.istio.io/config` annotation); None when it is not set."""
    topology = proxy_config.get("gatewayTopology") if isinstance(proxy_config, dict) else None
    if not isinstance(topology, dict) or "numTrustedProxies" not in topology:
        return None
    value = topology["numTrustedProxies"]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        path = f"{where}.gatewayTopology.numTrustedProxies"
        errors.append((path, f"{value!r} is not a number of proxies (0 or more)"))
        return None
    return value


def _aliases(mesh: dict[str, Any], errors: Errors) -> tuple[str, ...]:
    found = _strings(mesh.get("trustDomainAliases"), "trustDomainAliases", errors)
    for index, alias in enumerate(found):
        if not re.fullmatch(r"[A-Za-z0-9.*-]+", alias):
            errors.append((f"trustDomainAliases[{index}]", f"{alias!r} is not a trust domain"))
            return ()
    return found
