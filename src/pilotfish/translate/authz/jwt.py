"""RequestAuthentication -> Envoy `jwt_authn` (Istio's `convertToEnvoyJwtConfig` shape).

Every `jwtRules` entry of the RequestAuthentications that apply to the proxy (scoping as for
AuthorizationPolicy) is one provider `origins-<i>`: issuer, audiences, token locations
(`fromHeaders` with prefix, `fromParams`, `fromCookies`; Envoy's default `Authorization: Bearer`
and `access_token` when none is given), `forwardOriginalToken`, `outputPayloadToHeader`,
`outputClaimToHeaders`, the payload in dynamic metadata under `payload` (what authorization's
`requestPrincipals` and `request.auth.claims[...]` read; `scope`, `permission` and
`spaceDelimitedClaims` become lists). Requirement, as Istio: a token that is present must be
valid for some provider (else 401); a missing token passes here, and only an AuthorizationPolicy
on `requestPrincipals` can require one (403).

Keys: `jwks` inline; `jwksUri` is fetched by Envoy through the outbound cluster of the mesh
service its host and port name (timeout from `timeout`, default 5 s; cached 5 min). A `jwksUri`
outside the mesh is never fetched (no request to arbitrary hosts from the proxy): Istio's sample
key set, which Istio's tasks name by its GitHub URI, is given inline (`known_jwks`); for any
other the provider gets a key nobody holds, so its tokens are rejected, and a warning says so
(the same for an inline `jwks` Envoy would refuse, which would otherwise reject the whole
listener).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from envoy.config.core.v3 import base_pb2, http_uri_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import empty_pb2

from pilotfish.config.hosts import resolve_host
from pilotfish.config.objects import Diagnostic, RequestAuthentication
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names
from pilotfish.translate.authz.known_jwks import known_jwks
from pilotfish.translate.authz.matchers import JWT_FILTER, JWT_PAYLOAD
from pilotfish.translate.authz.rbac import note
from pilotfish.translate.envoy_pb import duration, pack, seconds_of

if TYPE_CHECKING:
    from pilotfish.config.models.security import JWTRule

DEFAULT_SPACE_DELIMITED = ("permission", "scope")
DEFAULT_TIMEOUT_SECONDS = 5.0
JWKS_CACHE_SECONDS = 300.0
# Envoy refuses an empty key set, so a provider that must reject every token gets this P-256
# public key, whose private key was thrown away when it was made: nothing can be signed for it.
UNUSABLE_JWKS = (
    '{"keys":[{"kty":"EC","crv":"P-256","kid":"pilotfish-unusable",'
    '"x":"NSEKmTzFNG78GZc-GXIm2uKzFjQi2ICDRwFVkgNnlDE",'
    '"y":"zHBqyZ4r2LmN6A5QYf1HNuMgvdBF6j4Mye94kJkPqyQ"}]}'
)


def _jwks_cluster(uri: str, push: PushContext, namespace: str) -> str | None:
    """The outbound cluster of the mesh service `uri` names (host and port), or None."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for host in (parts.hostname, resolve_host(parts.hostname, namespace)):
        service = push.registry.service(host)
        if service is not None and any(p.port == port for p in service.ports):
            return names.outbound_cluster(port, service.hostname)
    return None


def _provider(
    rule: JWTRule,
    config: RequestAuthentication,
    index: int,
    push: PushContext,
    notes: list[Diagnostic],
) -> jwt_pb2.JwtProvider:
    claims = sorted(set(rule.space_delimited_claims) | set(DEFAULT_SPACE_DELIMITED))
    provider = jwt_pb2.JwtProvider(
        issuer=rule.issuer or "",
        audiences=list(rule.audiences),
        forward=bool(rule.forward_original_token),
        forward_payload_header=rule.output_payload_to_header or "",
        payload_in_metadata=JWT_PAYLOAD,
        normalize_payload_in_metadata=jwt_pb2.JwtProvider.NormalizePayload(
            space_delimited_claims=claims
        ),
        from_params=list(rule.from_params),
        from_cookies=list(rule.from_cookies),
    )
    for item in rule.output_claim_to_headers:
        provider.claim_to_headers.append(
            jwt_pb2.JwtClaimToHeader(header_name=item.header or "", claim_name=item.claim or "")
        )
    for location in rule.from_headers:
        provider.from_headers.append(
            jwt_pb2.JwtHeader(name=location.name or "", value_prefix=location.prefix or "")
        )
    timeout = seconds_of(rule.timeout) if rule.timeout else None
    path = f"spec.jwtRules[{index}]"
    if rule.jwks_uri and not rule.jwks:
        cluster = _jwks_cluster(rule.jwks_uri, push, config.meta.namespace)
        if cluster is not None:
            provider.remote_jwks.CopyFrom(
                jwt_pb2.RemoteJwks(
                    http_uri=http_uri_pb2.HttpUri(
                        uri=rule.jwks_uri,
                        cluster=cluster,
                        timeout=duration(timeout or DEFAULT_TIMEOUT_SECONDS),
                    ),
                    cache_duration=duration(JWKS_CACHE_SECONDS),
                )
            )
            return provider
        known = known_jwks(rule.jwks_uri)
        if known is not None:  # Istio's sample key set: given inline, never fetched
            provider.local_jwks.CopyFrom(base_pb2.DataSource(inline_string=known))
            return provider
        notes.append(
            note(
                config,
                f"{path}.jwksUri",
                f"{rule.jwks_uri} is not a service of the mesh: its keys are not fetched and "
                "tokens from this issuer are rejected (declare the host with a ServiceEntry)",
            )
        )
    inline = rule.jwks or UNUSABLE_JWKS
    problem = jwks_problem(rule.jwks) if rule.jwks else ""
    if problem:
        notes.append(
            note(config, f"{path}.jwks", f"{problem}: tokens from this issuer are rejected")
        )
        inline = UNUSABLE_JWKS
    provider.local_jwks.CopyFrom(base_pb2.DataSource(inline_string=inline))
    return provider


def jwks_problem(text: str) -> str:
    """Why Envoy would refuse this inline JWKS (it NACKs the whole listener), or ""."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        return f"is not JSON: {exc}"
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        return "has no `keys`"
    needed = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "oct": ("k",), "OKP": ("crv", "x")}
    for index, key in enumerate(keys):
        kty = key.get("kty") if isinstance(key, dict) else None
        if kty not in needed:
            return f"keys[{index}].kty {kty!r} is not RSA, EC, oct or OKP"
        for name in needed[kty]:
            value = key.get(name)
            if not isinstance(value, str) or not value:
                return f"keys[{index}].{name} is missing"
            if name != "crv":
                try:
                    base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
                except ValueError:
                    return f"keys[{index}].{name} is not base64url"
    return ""


def _named(name: str) -> jwt_pb2.JwtRequirement:
    return jwt_pb2.JwtRequirement(provider_name=name)


def _requirement(provider_names: Sequence[str]) -> jwt_pb2.JwtRequirement:
    """Istio's: each token present must verify; missing passes. Several providers: OR of each
    provider alone and the AND of {provider OR allow_missing} over all of them."""
    inner = [
        jwt_pb2.JwtRequirement(
            requires_any=jwt_pb2.JwtRequirementOrList(
                requirements=[_named(n), jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty())]
            )
        )
        for n in provider_names
    ]
    if len(inner) == 1:
        return inner[0]
    outer = [_named(n) for n in provider_names]
    outer.append(
        jwt_pb2.JwtRequirement(requires_all=jwt_pb2.JwtRequirementAndList(requirements=inner))
    )
    return jwt_pb2.JwtRequirement(requires_any=jwt_pb2.JwtRequirementOrList(requirements=outer))


def jwt_filter(
    configs: Sequence[RequestAuthentication],
    push: PushContext,
    notes: list[Diagnostic],
    *,
    clear_route_cache: bool = False,
) -> hcm_pb2.HttpFilter | None:
    """The jwt_authn filter for the RequestAuthentications applying to a proxy, if any."""
    authentication = jwt_pb2.JwtAuthentication(bypass_cors_preflight=True)
    provider_names: list[str] = []
    for config in configs:
        for index, rule in enumerate(config.spec.jwt_rules or ()):
            name = f"origins-{len(provider_names)}"
            provider = _provider(rule, config, index, push, notes)
            provider.clear_route_cache = clear_route_cache
            authentication.providers[name].CopyFrom(provider)
            provider_names.append(name)
    if not provider_names:
        return None
    authentication.rules.append(
        jwt_pb2.RequirementRule(
            match=rc_pb2.RouteMatch(prefix="/"), requires=_requirement(provider_names)
        )
    )
    return hcm_pb2.HttpFilter(name=JWT_FILTER, typed_config=pack(authentication))
