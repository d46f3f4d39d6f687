"""Istio `HTTPMatchRequest` -> Envoy `RouteMatch`, and which match blocks apply where.

uri exact/prefix/regex -> path/prefix/safe_regex (with ignoreUriCase), headers and
withoutHeaders -> header matchers (`method`/`authority`/`scheme` become the `:method`,
`:authority`, `:scheme` pseudo-headers), queryParams -> query parameter matchers. A match block
that names a port, gateways, source labels or a source namespace only applies on that port /
gateway / workload / namespace: the route is generated only for the proxies it applies to.
A header named `@request.auth.claims.a.b` (or `@request.auth.claims[a][b]`) matches the verified
JWT's claim instead (Istio's JWT claim based routing; only gateways route on it, as the webhook
checks): a dynamic metadata matcher on the payload jwt_authn records, a string claim or a list
containing the value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.type.matcher.v3 import metadata_pb2, regex_pb2, string_pb2, value_pb2
from google.protobuf import wrappers_pb2

from pilotfish.model.push_context import gateway_ref
from pilotfish.translate.authz.matchers import jwt_claim

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        HTTPMatchRequest,
        StringMatch,
    )
    from pilotfish.config.objects import VirtualService

ROUTE_SEMANTICS = "internal.istio.io/route-semantics"
_PSEUDO_HEADERS = (("method", ":method"), ("authority", ":authority"), ("scheme", ":scheme"))
CLAIM_HEADER = "@request.auth.claims"


def routing_claim(name: str) -> list[str] | None:
    """The claim path a `@request.auth.claims...` header names (Istio's ToRoutingClaim), or None
    for an ordinary header (or a malformed claim name, left as a header no request carries)."""
    if not name.startswith(CLAIM_HEADER):
        return None
    rest = name[len(CLAIM_HEADER) :]
    if rest.startswith(".") and all(rest[1:].split(".")):
        return rest[1:].split(".")
    names = re.findall(r"\[([^\[\]]+)\]", rest)
    if names and "".join(f"[{n}]" for n in names) == rest:
        return names
    return None


def match_applies(
    match: HTTPMatchRequest,
    *,
    port: int,
    gateway: str,
    namespace: str,
    labels: dict[str, str],
    proxy_namespace: str = "",
) -> bool:
    """Whether one match block is in force for this vhost port, gateway (`mesh` or `ns/name`)
    and, for sidecars, the proxy's labels and namespace (`sourceLabels`, `sourceNamespace`).
    `namespace` is the VirtualService's namespace."""
    if match.port and match.port != port:
        return False
    if match.gateways and gateway not in {gateway_ref(g, namespace) for g in match.gateways}:
        return False
    source_labels = dict(match.source_labels or {})
    if (source_labels or match.source_namespace) and gateway != "mesh":
        return False
    if match.source_namespace and match.source_namespace != proxy_namespace:
        return False
    return all(labels.get(k) == v for k, v in source_labels.items())


def string_matcher(match: StringMatch | None) -> string_pb2.StringMatcher | None:
    """exact/prefix/regex -> StringMatcher; None when the StringMatch is empty."""
    if match is None:
        return None
    if match.exact is not None:
        return string_pb2.StringMatcher(exact=match.exact)
    if match.prefix is not None:
        return string_pb2.StringMatcher(prefix=match.prefix)
    if match.regex is not None:
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.regex))
    return None


def gateway_semantics(vs: VirtualService) -> bool:
    """A VirtualService made of a Gateway API route (`internal.istio.io/route-semantics:
    gateway`, `config.gateway_api.convert`) or of an Ingress (`ingress`, `config.ingress`): its
    prefixes match whole path segments, as Istio."""
    return any(k == ROUTE_SEMANTICS and v in ("gateway", "ingress") for k, v in vs.meta.annotations)


def route_match(match: HTTPMatchRequest | None, separated: bool = False) -> rc_pb2.RouteMatch:
    """One Envoy RouteMatch for one Istio match block (None = match everything). `separated`
    (Gateway API semantics, as Istio): a prefix other than `/` is a `path_separated_prefix`
    (`/static` matches `/static` and `/static/x`, not `/staticx`)."""
    result = rc_pb2.RouteMatch()
    uri = match.uri if match is not None else None
    if uri is not None and uri.exact is not None:
        result.path = uri.exact
    elif uri is not None and uri.regex is not None:
        result.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=uri.regex))
    elif separated and uri is not None and uri.prefix and uri.prefix.rstrip("/"):
        result.path_separated_prefix = uri.prefix.rstrip("/")
    else:
        result.prefix = uri.prefix if uri is not None and uri.prefix is not None else "/"
    if match is None:
        return result
    # As Istio: written out on every match block; Envoy does not apply it to a regex, which
    # stays case-sensitive (Istio does not rewrite the regex either).
    result.case_sensitive.CopyFrom(wrappers_pb2.BoolValue(value=not match.ignore_uri_case))
    for name, header in sorted((match.headers or {}).items()):
        claim = routing_claim(name)
        if claim is not None:
            result.dynamic_metadata.append(_claim_matcher(claim, header, invert=False))
        else:
            result.headers.append(_header_matcher(name, header, invert=False))
    for attribute, pseudo in _PSEUDO_HEADERS:
        value = getattr(match, attribute, None)
        if value is not None:
            result.headers.append(_header_matcher(pseudo, value, invert=False))
    for name, header in sorted((match.without_headers or {}).items()):
        claim = routing_claim(name)
        if claim is not None:
            result.dynamic_metadata.append(_claim_matcher(claim, header, invert=True))
        else:
            result.headers.append(_header_matcher(name, header, invert=True))
    for name, param in sorted((match.query_params or {}).items()):
        matcher = string_matcher(param)
        query = rc_pb2.QueryParameterMatcher(name=name)
        if matcher is None:
            query.present_match = True
        else:
            query.string_match.CopyFrom(matcher)
        result.query_parameters.append(query)
    return result


def _claim_matcher(
    claim: list[str], match: StringMatch, *, invert: bool
) -> metadata_pb2.MetadataMatcher:
    matcher = string_matcher(match)
    if matcher is None:
        value = value_pb2.ValueMatcher(present_match=True)
    else:
        value = value_pb2.ValueMatcher(string_match=matcher)
    found = jwt_claim(claim, value)
    found.invert = invert
    return found


def _header_matcher(name: str, match: StringMatch, *, invert: bool) -> rc_pb2.HeaderMatcher:
    header = rc_pb2.HeaderMatcher(name=name.lower(), invert_match=invert)
    # Istio: regex "*" is not RE2 but "present" (canBeConvertedToPresentMatch)
    matcher = None if match.regex == "*" else string_matcher(match)
    if matcher is None:
        header.present_match = True
    else:
        header.string_match.CopyFrom(matcher)
    return header
