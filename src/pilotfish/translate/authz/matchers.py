"""Envoy matchers for authorization values, with Istio's wildcard rules.

A value is exact, `*` (presence / any), `*suffix` or `prefix*`. Paths may also be URI templates
(`{*}` one segment, `{**}` any number), which become Envoy's `uri_template` matcher. Hosts are
matched case-insensitively (CVE-2021-39155), and a host written without a port also matches the
same host with any port and with a trailing dot (`httpbin`, `httpbin:8000`, `httpbin.`), so a
`DENY` on a host cannot be sidestepped by the way the client spells `Host`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.path.match.uri_template.v3 import uri_template_match_pb2
from envoy.type.matcher.v3 import metadata_pb2, path_pb2, regex_pb2, string_pb2, value_pb2

JWT_FILTER = "envoy.filters.http.jwt_authn"
JWT_PAYLOAD = "payload"  # Istio's `payload_in_metadata` key: claims live under it
PATH_TEMPLATE = re.compile(r"\{\*\*?\}")


def exact(value: str, *, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(exact=value, ignore_case=ignore_case)


def prefix(value: str, *, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(prefix=value, ignore_case=ignore_case)


def suffix(value: str, *, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(suffix=value, ignore_case=ignore_case)


def regex(pattern: str) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def string(value: str, with_prefix: str = "") -> string_pb2.StringMatcher:
    """Istio's StringMatcherWithPrefix: `*` is `.+`, `*x` suffix, `x*` prefix, else exact;
    `with_prefix` (e.g. `spiffe://`) is prepended to what the value names."""
    if value == "*":
        return regex(".+")
    if value.startswith("*"):
        if not with_prefix:
            return suffix(value[1:])
        return regex(with_prefix + ".*" + re.escape(value[1:]))
    if value.endswith("*"):
        return prefix(with_prefix + value[:-1])
    return exact(with_prefix + value)


def header(name: str, value: str) -> rc_pb2.HeaderMatcher:
    """Istio's HeaderMatcher: `*` means present; `*x`/`x*` suffix/prefix; else exact."""
    if value == "*":
        return rc_pb2.HeaderMatcher(name=name, present_match=True)
    if value.startswith("*"):
        return rc_pb2.HeaderMatcher(name=name, string_match=suffix(value[1:]))
    if value.endswith("*"):
        return rc_pb2.HeaderMatcher(name=name, string_match=prefix(value[:-1]))
    return rc_pb2.HeaderMatcher(name=name, string_match=exact(value))


def hosts(value: str) -> list[rc_pb2.HeaderMatcher]:
    """Matchers for one `hosts` value on `:authority`: Istio's case-insensitive matcher, plus the
    same name with a port and with a trailing dot when the value names no port."""
    name = ":authority"
    if value == "*":
        return [rc_pb2.HeaderMatcher(name=name, present_match=True)]
    if value.startswith("*"):
        found = [rc_pb2.HeaderMatcher(name=name, string_match=suffix(value[1:], ignore_case=True))]
        body = ".*" + re.escape(value[1:])
    elif value.endswith("*"):
        return [rc_pb2.HeaderMatcher(name=name, string_match=prefix(value[:-1], ignore_case=True))]
    else:
        found = [rc_pb2.HeaderMatcher(name=name, string_match=exact(value, ignore_case=True))]
        body = re.escape(value)
    if ":" not in value.rsplit("]", 1)[-1]:
        variants = regex(f"(?i){body}\\.?(:[0-9]*)?")
        found.append(rc_pb2.HeaderMatcher(name=name, string_match=variants))
    return found


def is_path_template(value: str) -> bool:
    return bool(PATH_TEMPLATE.search(value))


def path(value: str) -> path_pb2.PathMatcher:
    return path_pb2.PathMatcher(path=string(value))


def path_template(value: str) -> uri_template_match_pb2.UriTemplateMatchConfig:
    """`{*}` -> `*`, `{**}` -> `**` (Envoy's uri_template syntax)."""
    template = value.replace("{**}", "**").replace("{*}", "*")
    return uri_template_match_pb2.UriTemplateMatchConfig(path_template=template)


def path_template_regex(value: str) -> str:
    """The same template as a regex on a whole path: `{*}` one segment, `{**}` the rest."""
    parts = re.split(r"(\{\*\*?\})", value)
    mapped = {"{*}": "[^/]+", "{**}": ".*"}
    return "".join(mapped.get(part) or re.escape(part) for part in parts)


def value_or(values: Sequence[str]) -> value_pb2.ValueMatcher:
    """Istio's StringOrMatcher: one string matcher per value, OR-ed (a single one stays bare)."""
    matchers = [value_pb2.ValueMatcher(string_match=string(v)) for v in values]
    if len(matchers) == 1:
        return matchers[0]
    return value_pb2.ValueMatcher(or_match=value_pb2.OrMatcher(value_matchers=matchers))


def jwt_claim(claims: Sequence[str], value: value_pb2.ValueMatcher) -> metadata_pb2.MetadataMatcher:
    """A claim (path of nested names) of the verified JWT payload matching `value`, whether the
    claim is a string or a list containing a matching string (Istio's extended JWT matcher)."""
    either = value_pb2.ValueMatcher(
        or_match=value_pb2.OrMatcher(
            value_matchers=[
                value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=value)),
                value,
            ]
        )
    )
    return metadata_pb2.MetadataMatcher(
        filter=JWT_FILTER,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in (JWT_PAYLOAD, *claims)],
        value=either,
    )


def jwt_string_claim(claim: str, matcher: string_pb2.StringMatcher) -> metadata_pb2.MetadataMatcher:
    """A top-level string claim (`iss`, `sub`) of the verified JWT payload."""
    return metadata_pb2.MetadataMatcher(
        filter=JWT_FILTER,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in (JWT_PAYLOAD, claim)],
        value=value_pb2.ValueMatcher(string_match=matcher),
    )
