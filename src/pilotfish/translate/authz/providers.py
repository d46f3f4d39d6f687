"""MeshConfig `extensionProviders` of kind `envoyExtAuthzHttp` / `envoyExtAuthzGrpc` -> the
`ext_authz` filters a CUSTOM policy delegates to (Istio's `builder/extauthz.go` shapes).

The provider's `service` (a hostname, optionally `namespace/hostname`) and `port` must name a
service port of the registry, whose outbound cluster carries the check. `timeout` defaults to
600s, `failOpen` to false (an unreachable provider denies: 403), `statusOnError` to Envoy's 403.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2, http_uri_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2 as http_ext_authz_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.ext_authz.v3 import ext_authz_pb2 as tcp_ext_authz_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from envoy.type.v3 import http_status_pb2

from pilotfish.config.hosts import resolve_host
from pilotfish.config.mesh_security import ExtAuthzProvider as ExtensionProvider
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names
from pilotfish.translate.authz import path_view
from pilotfish.translate.authz.rbac import HTTP_RBAC, NETWORK_RBAC, TCP_STAT_PREFIX
from pilotfish.translate.envoy_pb import duration, pack, seconds_of

HTTP_EXT_AUTHZ = "envoy.filters.http.ext_authz"
NETWORK_EXT_AUTHZ = "envoy.filters.network.ext_authz"
EXT_AUTHZ_STAT_PREFIX = "istio_ext_authz_"
MARK_KEY = EXT_AUTHZ_STAT_PREFIX + "shadow_effective_policy_id"  # what a marking filter writes
EXT_AUTHZ_POLICY_PREFIX = "istio-ext-authz-"
CUSTOM_FILTER_PREFIX = "pilotfish.authz.custom."
DEFAULT_TIMEOUT_SECONDS = 600.0


def resolve(name: str, push: PushContext) -> ExtensionProvider | str:
    """The provider named `name`, or why it cannot be used."""
    found = [p for p in push.mesh.extension_providers if p.name == name]
    if not name:
        return "no provider specified in the authorization policy"
    if not found:
        known = sorted(p.name for p in push.mesh.extension_providers)
        return f"available providers are {known} but found {name!r}"
    provider = found[0]
    if provider.kind not in ("envoyExtAuthzHttp", "envoyExtAuthzGrpc"):
        return f"provider {name!r} is not an ext_authz provider"
    if not 1 <= provider.port <= 65535:
        return f"provider {name!r}: port must be in the range [1, 65535], found {provider.port}"
    if _cluster(provider, push) is None:
        return f"provider {name!r}: service {provider.service}:{provider.port} is not in the mesh"
    if provider.status_on_error and not provider.status_on_error.isdigit():
        return f"provider {name!r}: invalid statusOnError {provider.status_on_error!r}"
    return provider


def _cluster(provider: ExtensionProvider, push: PushContext) -> tuple[str, str] | None:
    host = provider.service.split("/", 1)[-1]
    namespace = provider.service.split("/", 1)[0] if "/" in provider.service else "default"
    for candidate in (host, resolve_host(host, namespace)):
        service = push.registry.service(candidate)
        if service is not None and any(p.port == provider.port for p in service.ports):
            return service.hostname, names.outbound_cluster(provider.port, service.hostname)
    return None


def _timeout(provider: ExtensionProvider) -> float:
    seconds = seconds_of(provider.timeout) if provider.timeout else None
    return DEFAULT_TIMEOUT_SECONDS if seconds is None else seconds


def _list_matcher(headers: tuple[str, ...]) -> string_pb2.ListStringMatcher:
    patterns = []
    for header in headers:
        if header.startswith("*"):
            patterns.append(string_pb2.StringMatcher(suffix=header[1:], ignore_case=True))
        elif header.endswith("*"):
            patterns.append(string_pb2.StringMatcher(prefix=header[:-1], ignore_case=True))
        else:
            patterns.append(string_pb2.StringMatcher(exact=header, ignore_case=True))
    return string_pb2.ListStringMatcher(patterns=patterns)


def _enabled_when(filter_name: str, provider: str) -> metadata_pb2.MetadataMatcher:
    """Run ext_authz only when the shadow RBAC evaluation matched a rule of this provider."""
    return metadata_pb2.MetadataMatcher(
        filter=filter_name,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=MARK_KEY)],
        value=value_pb2.ValueMatcher(
            string_match=string_pb2.StringMatcher(prefix=policy_prefix(provider))
        ),
    )


def _status(provider: ExtensionProvider) -> http_status_pb2.HttpStatus | None:
    if not provider.status_on_error:
        return None
    return http_status_pb2.HttpStatus(code=int(provider.status_on_error))


def _grpc_service(provider: ExtensionProvider, push: PushContext) -> grpc_service_pb2.GrpcService:
    found = _cluster(provider, push)
    assert found is not None
    hostname, cluster = found
    return grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=cluster, authority=hostname),
        timeout=duration(_timeout(provider)),
    )


def http_ext_authz(provider: ExtensionProvider, push: PushContext) -> http_ext_authz_pb2.ExtAuthz:
    config = http_ext_authz_pb2.ExtAuthz(
        failure_mode_allow=provider.fail_open,
        transport_api_version=config_source_pb2.V3,
        filter_enabled_metadata=_enabled_when(HTTP_RBAC, provider.name),
    )
    status = _status(provider)
    if status is not None:
        config.status_on_error.CopyFrom(status)
    if provider.include_request_body_in_check:
        config.with_request_body.max_request_bytes = provider.max_request_bytes
        config.with_request_body.allow_partial_message = provider.allow_partial_message
        config.with_request_body.pack_as_bytes = provider.pack_as_bytes
    # the fully normalized path's internal header is nobody's business but this proxy's: the
    # authorizer is sent the request's own headers, as Istio's check request holds
    config.disallowed_headers.patterns.add(exact=path_view.HEADER)
    if provider.grpc:
        config.grpc_service.CopyFrom(_grpc_service(provider, push))
        return config
    found = _cluster(provider, push)
    assert found is not None
    hostname, cluster = found
    service = config.http_service
    service.path_prefix = provider.path_prefix
    service.server_uri.CopyFrom(
        http_uri_pb2.HttpUri(
            uri=f"http://{hostname}", cluster=cluster, timeout=duration(_timeout(provider))
        )
    )
    for key, value in provider.include_additional_headers_in_check:
        service.authorization_request.headers_to_add.append(
            base_pb2.HeaderValue(key=key, value=value)
        )
    if provider.include_request_headers_in_check:
        config.allowed_headers.CopyFrom(_list_matcher(provider.include_request_headers_in_check))
    response = service.authorization_response
    if provider.headers_to_upstream_on_allow:
        response.allowed_upstream_headers.CopyFrom(
            _list_matcher(provider.headers_to_upstream_on_allow)
        )
    if provider.headers_to_downstream_on_deny:
        response.allowed_client_headers.CopyFrom(
            _list_matcher(provider.headers_to_downstream_on_deny)
        )
    if provider.headers_to_downstream_on_allow:
        response.allowed_client_headers_on_success.CopyFrom(
            _list_matcher(provider.headers_to_downstream_on_allow)
        )
    return config


def any_mark() -> metadata_pb2.MetadataMatcher:
    """A request some provider's marking filter marked (whichever provider: `_enabled_when`'s
    key, present)."""
    return metadata_pb2.MetadataMatcher(
        filter=HTTP_RBAC,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=MARK_KEY)],
        value=value_pb2.ValueMatcher(present_match=True),
    )


def rbac_filter_name(provider: str) -> str:
    """The RBAC filter that marks requests for `provider` (its rules come per route)."""
    return f"{CUSTOM_FILTER_PREFIX}{provider}"


def policy_prefix(provider: str) -> str:
    """Istio's prefix of a CUSTOM rule's policy name; the ext_authz filter of the provider runs
    when the matched rule's name starts with it (the trailing `-` keeps provider `a` from
    matching the rules of provider `ab`)."""
    return f"{EXT_AUTHZ_POLICY_PREFIX}{provider}-"


def marking_rules(rules: rbac_pb2.RBAC) -> http_rbac_pb2.RBACPerRoute:
    """A route's CUSTOM rules for one provider: shadow rules, which mark and never enforce."""
    return http_rbac_pb2.RBACPerRoute(rbac=http_rbac_pb2.RBAC(shadow_rules=rules))


def http_pair(provider: ExtensionProvider, push: PushContext) -> list[hcm_pb2.HttpFilter]:
    """The marking RBAC filter (no rules of its own) and the ext_authz filter it enables."""
    marker = http_rbac_pb2.RBAC(shadow_rules_stat_prefix=EXT_AUTHZ_STAT_PREFIX)
    return [
        hcm_pb2.HttpFilter(name=rbac_filter_name(provider.name), typed_config=pack(marker)),
        hcm_pb2.HttpFilter(name=HTTP_EXT_AUTHZ, typed_config=pack(http_ext_authz(provider, push))),
    ]


def network_pair(
    provider: ExtensionProvider, push: PushContext, rules: rbac_pb2.RBAC
) -> list[lc_pb2.Filter]:
    marker = network_rbac_pb2.RBAC(
        stat_prefix=TCP_STAT_PREFIX, shadow_rules_stat_prefix=EXT_AUTHZ_STAT_PREFIX
    )
    marker.shadow_rules.CopyFrom(rules)
    check = tcp_ext_authz_pb2.ExtAuthz(
        stat_prefix=TCP_STAT_PREFIX,
        failure_mode_allow=provider.fail_open,
        transport_api_version=config_source_pb2.V3,
        grpc_service=_grpc_service(provider, push),
        filter_enabled_metadata=_enabled_when(NETWORK_RBAC, provider.name),
    )
    return [
        lc_pb2.Filter(name=NETWORK_RBAC, typed_config=pack(marker)),
        lc_pb2.Filter(name=NETWORK_EXT_AUTHZ, typed_config=pack(check)),
    ]
