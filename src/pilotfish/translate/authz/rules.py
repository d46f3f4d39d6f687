"""One AuthorizationPolicy rule -> one Envoy RBAC `Policy` (Istio's authz `model`).

A rule's `to` operations become permissions (OR-ed), its `from` sources principals (OR-ed); each
`when` condition is AND-ed into every permission (destination/connection keys) or principal
(source/request keys). Inside one field the values are OR-ed and `not*` values become a NOT of
their OR. The element order is Istio's: hosts, methods, paths, ports, then `when`; principals,
requestPrincipals, serviceAccounts, trustDomains, namespaces, remoteIpBlocks, ipBlocks, then
`when`.

Fail-safe (Istio's `checkError`): an element that cannot be generated -- an HTTP-only field on a
TCP filter chain, or a bad value -- drops the whole rule of an ALLOW policy (it allows less) and
is left out of a DENY/AUDIT/CUSTOM rule (it matches more). An unknown `when` key drops the rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from envoy.config.core.v3 import address_pb2, extension_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission, Principal
from envoy.type.matcher.v3 import metadata_pb2, value_pb2

from pilotfish.translate.authz import matchers as m
from pilotfish.translate.envoy_pb import pack

if TYPE_CHECKING:
    from envoy.type.matcher.v3 import string_pb2

    from pilotfish.config.models.security import Condition, Operation, Rule, Source

SPIFFE_PREFIX = "spiffe://"
ENVOY_FILTER_KEY = "experimental.envoy.filters."


class Unsupported(ValueError):
    """This element of the rule cannot be expressed here (HTTP-only on TCP, bad value)."""


class InvalidRule(ValueError):
    """The rule cannot be used at all (unknown `when` key): skipped whatever the action."""


M = TypeVar("M", Permission, Principal)
"""What an element of a rule becomes: a Permission (to, when on the destination) or a
Principal (from, when on the source)."""


@dataclass(frozen=True)
class _Element(Generic[M]):
    key: str
    values: tuple[str, ...]
    not_values: tuple[str, ...]
    make: Callable[..., M]  # (key, value, tcp), or (key, values, tcp) when extended
    extended: bool = False  # `make` takes every value at once (a tuple) instead of one


def _cidr(value: str) -> address_pb2.CidrRange:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise Unsupported(f"invalid IP address or CIDR {value!r}") from exc
    if "/" not in value:
        return address_pb2.CidrRange(address_prefix=value, prefix_len={"value": network.prefixlen})
    return address_pb2.CidrRange(
        address_prefix=str(network.network_address), prefix_len={"value": network.prefixlen}
    )


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise Unsupported(f"invalid port {value!r}")
    return int(value)


def _http_only(key: str, tcp: bool) -> None:
    if tcp:
        raise Unsupported(f"{key!r} is HTTP only")


def _authenticated(matcher: string_pb2.StringMatcher) -> Principal:
    """The peer certificate's identity (URI SAN): only mTLS connections have one, so on a
    plaintext connection this never matches (fail closed)."""
    return Principal(authenticated=Principal.Authenticated(principal_name=matcher))


# ---- permission generators -----------------------------------------------------------------
def _dest_ip(_: str, value: str, __: bool) -> Permission:
    return Permission(destination_ip=_cidr(value))


def _dest_port(_: str, value: str, __: bool) -> Permission:
    return Permission(destination_port=_port(value))


def _sni(_: str, value: str, __: bool) -> Permission:
    return Permission(requested_server_name=m.string(value))


def _host(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    found = [Permission(header=h) for h in m.hosts(value)]
    return found[0] if len(found) == 1 else Permission(or_rules=Permission.Set(rules=found))


def _method(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    return Permission(header=m.header(":method", value))


def _path(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    if m.is_path_template(value):
        template = extension_pb2.TypedExtensionConfig(
            name="uri-template", typed_config=pack(m.path_template(value))
        )
        return Permission(uri_template=template)
    return Permission(url_path=m.path(value))


def _envoy_filter(key: str, values: tuple[str, ...], _: bool) -> Permission:
    parts = key.removeprefix("experimental.").removesuffix("]").split("[", 1)
    if len(parts) != 2:
        raise Unsupported(f"invalid key {key!r}")
    matchers = []
    for value in values:
        if value.startswith("[") and value.endswith("]"):
            one = value_pb2.ValueMatcher(string_match=m.string(value.strip("[]")))
            matchers.append(value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=one)))
        else:
            matchers.append(value_pb2.ValueMatcher(string_match=m.string(value)))
    value_matcher = (
        matchers[0]
        if len(matchers) == 1
        else value_pb2.ValueMatcher(or_match=value_pb2.OrMatcher(value_matchers=matchers))
    )
    return Permission(
        metadata=metadata_pb2.MetadataMatcher(
            filter=parts[0],
            path=[metadata_pb2.MetadataMatcher.PathSegment(key=parts[1])],
            value=value_matcher,
        )
    )


# ---- principal generators ------------------------------------------------------------------
def _src_ip(_: str, value: str, __: bool) -> Principal:
    return Principal(direct_remote_ip=_cidr(value))


def _remote_ip(_: str, value: str, __: bool) -> Principal:
    return Principal(remote_ip=_cidr(value))


def _namespace(_: str, value: str, __: bool) -> Principal:
    pattern = ".*".join(re.escape(part) for part in value.split("*"))
    return _authenticated(m.regex(f".*/ns/{pattern}/.*"))


def _trust_domain(_: str, value: str, __: bool) -> Principal:
    if value == "*":
        return _authenticated(m.prefix(SPIFFE_PREFIX))
    if "*" not in value:
        return _authenticated(m.prefix(f"{SPIFFE_PREFIX}{value}/"))
    head, tail = value.split("*", 1)
    return _authenticated(m.regex(f"spiffe://{re.escape(head)}[^/]*{re.escape(tail)}/.*"))


def _service_account(namespace: str) -> Callable[[str, str, bool], Principal]:
    def make(_: str, value: str, __: bool) -> Principal:
        ns, _sep, sa = value.rpartition("/") if "/" in value else (namespace, "", value)
        pattern = f"spiffe://.+/ns/{re.escape(ns)}/(.+/|)sa/{re.escape(sa)}(/.+)?"
        return _authenticated(m.regex(pattern))

    return make


def _principal(_: str, value: str, __: bool) -> Principal:
    return _authenticated(m.string(value, SPIFFE_PREFIX))


def _claim_and(issuer: string_pb2.StringMatcher, subject: string_pb2.StringMatcher) -> Principal:
    return Principal(
        and_ids=Principal.Set(
            ids=[
                Principal(metadata=m.jwt_string_claim("iss", issuer)),
                Principal(metadata=m.jwt_string_claim("sub", subject)),
            ]
        )
    )


def _request_principal(key: str, values: tuple[str, ...], tcp: bool) -> Principal:
    """`iss/sub` of the verified JWT (split at the last `/`: issuers are URLs)."""
    _http_only(key, tcp)
    any_value = m.regex(".+")
    found = []
    for value in values:
        issuer, sep, subject = value.rpartition("/")
        if not sep:
            issuer, subject = value, ""
        if value == "*":
            pair = (any_value, any_value)
        elif value.startswith("*"):
            if sep:
                iss = any_value if issuer == "*" else m.suffix(issuer[1:])
                pair = (iss, m.exact(subject))
            else:
                pair = (any_value, m.suffix(value[1:]))
        elif value.endswith("*"):
            if sep:
                pair = (m.exact(issuer), any_value if subject == "*" else m.prefix(subject[:-1]))
            else:
                pair = (m.prefix(value[:-1]), any_value)
        else:
            pair = (m.exact(issuer), m.exact(subject))
        found.append(_claim_and(*pair))
    return found[0] if len(found) == 1 else Principal(or_ids=Principal.Set(ids=found))


def _claim_list(claim: str) -> Callable[[str, tuple[str, ...], bool], Principal]:
    def make(key: str, values: tuple[str, ...], tcp: bool) -> Principal:
        _http_only(key, tcp)
        return Principal(metadata=m.jwt_claim([claim], m.value_or(values)))

    return make


def _claims(key: str, values: tuple[str, ...], tcp: bool) -> Principal:
    _http_only(key, tcp)
    return Principal(metadata=m.jwt_claim(claim_path(key), m.value_or(values)))


def claim_path(key: str) -> list[str]:
    """`request.auth.claims[a][b]` -> ["a", "b"]; `request.auth.claims[a.b]` -> ["a.b"]."""
    rest = key.removeprefix("request.auth.claims")
    names = re.findall(r"\[([^\[\]]*)\]", rest)
    if not names or "".join(f"[{n}]" for n in names) != rest:
        raise Unsupported(f"expecting request.auth.claims[<NAME>], found {key!r}")
    return names


def _request_header(key: str, value: str, tcp: bool) -> Principal:
    _http_only(key, tcp)
    rest = key.removeprefix("request.headers")
    if not (rest.startswith("[") and rest.endswith("]")) or len(rest) < 3:
        raise Unsupported(f"expecting request.headers[<NAME>], found {key!r}")
    return Principal(header=m.header(rest[1:-1], value))


# ---- rule -> policy ------------------------------------------------------------------------
_PERMISSION_KEYS: dict[str, Callable[[str, str, bool], Permission]] = {
    "destination.ip": _dest_ip,
    "destination.port": _dest_port,
    "connection.sni": _sni,
}
_PRINCIPAL_KEYS: dict[str, Callable[[str, str, bool], Principal]] = {
    "source.ip": _src_ip,
    "remote.ip": _remote_ip,
    "source.namespace": _namespace,
    "source.trustDomain": _trust_domain,
    "source.principal": _principal,
}
_EXTENDED_PRINCIPAL_KEYS: dict[str, Callable[[str, tuple[str, ...], bool], Principal]] = {
    "request.auth.principal": _request_principal,
    "request.auth.audiences": _claim_list("aud"),
    "request.auth.presenter": _claim_list("azp"),
}


def _when(
    conditions: Sequence[Condition], namespace: str
) -> tuple[list[_Element[Permission]], list[_Element[Principal]]]:
    """`when` conditions split into permission and principal elements (appended last)."""
    permissions: list[_Element[Permission]] = []
    principals: list[_Element[Principal]] = []
    for condition in conditions:
        key = condition.key or ""
        values, nots = tuple(condition.values), tuple(condition.not_values)
        if key in _PERMISSION_KEYS:
            permissions.append(_Element(key, values, nots, _PERMISSION_KEYS[key]))
        elif key.startswith(ENVOY_FILTER_KEY):
            permissions.append(_Element(key, values, nots, _envoy_filter, extended=True))
        elif key in _PRINCIPAL_KEYS:
            principals.append(_Element(key, values, nots, _PRINCIPAL_KEYS[key]))
        elif key == "source.serviceAccount":
            principals.append(_Element(key, values, nots, _service_account(namespace)))
        elif key in _EXTENDED_PRINCIPAL_KEYS:
            make = _EXTENDED_PRINCIPAL_KEYS[key]
            principals.append(_Element(key, values, nots, make, extended=True))
        elif key.startswith("request.headers"):
            principals.append(_Element(key, values, nots, _request_header))
        elif key.startswith("request.auth.claims"):
            principals.append(_Element(key, values, nots, _claims, extended=True))
        else:
            raise InvalidRule(f"unknown attribute {key!r}")
    return permissions, principals


def _source(source: Source, namespace: str) -> list[_Element[Principal]]:
    s = source
    found = [
        _Element("source.principal", s.principals, s.not_principals, _principal),
        _Element(
            "request.auth.principal",
            s.request_principals,
            s.not_request_principals,
            _request_principal,
            extended=True,
        ),
        _Element(
            "source.serviceAccount",
            s.service_accounts,
            s.not_service_accounts,
            _service_account(namespace),
        ),
        _Element("source.trustDomain", s.trust_domains, s.not_trust_domains, _trust_domain),
        _Element("source.namespace", s.namespaces, s.not_namespaces, _namespace),
        _Element("remote.ip", s.remote_ip_blocks, s.not_remote_ip_blocks, _remote_ip),
        _Element("source.ip", s.ip_blocks, s.not_ip_blocks, _src_ip),
    ]
    return [e for e in found if e.values or e.not_values]


def _operation(o: Operation) -> list[_Element[Permission]]:
    found = [
        _Element("hosts", o.hosts, o.not_hosts, _host),
        _Element("methods", o.methods, o.not_methods, _method),
        _Element("paths", o.paths, o.not_paths, _path),
        _Element("ports", o.ports, o.not_ports, _dest_port),
    ]
    return [e for e in found if e.values or e.not_values]


def _generate(element: _Element[M], *, tcp: bool, strict: bool) -> list[M]:
    """AND-parts for one element: OR of values, NOT(OR of notValues). With `strict` (ALLOW) a
    failure drops the rule; otherwise the failing part is left out."""
    parts: list[M] = []
    for values, negate in ((element.values, False), (element.not_values, True)):
        if not values:
            continue
        try:
            if element.extended:
                made = element.make(element.key, values, tcp)
            else:
                ored: list[M] = []
                for value in values:
                    try:
                        ored.append(element.make(element.key, value, tcp))
                    except Unsupported:
                        if strict:
                            raise
                if not ored:
                    continue
                made = _or(ored)
        except Unsupported:
            if strict:
                raise
            continue
        parts.append(_not(made) if negate else made)
    return parts


def _or(items: list[M]) -> M:
    """OR of matchers of one type (not empty: its first item tells which)."""
    first = items[0]
    if isinstance(first, Permission):
        return Permission(or_rules=Permission.Set(rules=items))
    return Principal(or_ids=Principal.Set(ids=items))


def _not(item: M) -> M:
    if isinstance(item, Permission):
        return Permission(not_rule=item)
    return Principal(not_id=item)


def rule_policy(rule: Rule, namespace: str, *, tcp: bool, strict: bool) -> rbac_pb2.Policy:
    """The RBAC policy of one rule. Raises `Unsupported` (strict: ALLOW) or `InvalidRule`."""
    base_permission, base_principal = _when(rule.when or (), namespace)
    permission_lists = [
        _operation(to.operation) + base_permission if to.operation else list(base_permission)
        for to in rule.to or ()
    ] or [list(base_permission)]
    principal_lists = [
        _source(f.source, namespace) + base_principal if f.source else list(base_principal)
        for f in rule.from_ or ()
    ] or [list(base_principal)]
    permissions = []
    for elements in permission_lists:
        ands = [p for e in elements for p in _generate(e, tcp=tcp, strict=strict)]
        permissions.append(
            Permission(and_rules=Permission.Set(rules=ands or [Permission(any=True)]))
        )
    principals = []
    for elements in principal_lists:
        ands = [p for e in elements for p in _generate(e, tcp=tcp, strict=strict)]
        principals.append(Principal(and_ids=Principal.Set(ids=ands or [Principal(any=True)])))
    return rbac_pb2.Policy(permissions=permissions, principals=principals)


MATCH_NEVER = rbac_pb2.Policy(
    permissions=[Permission(not_rule=Permission(any=True))],
    principals=[Principal(not_id=Principal(any=True))],
)
"""What a policy with no rules becomes: it matches no request (`spec: {}` allows nothing)."""
