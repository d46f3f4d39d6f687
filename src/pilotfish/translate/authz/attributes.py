"""Istio's authorization attributes -> Envoy RBAC matchers, one value at a time (Istio's
authz `model` generators): destination IP/port and SNI, hosts, methods and paths become
`Permission`s; source principals, namespaces, trust domains, IPs, request principals, JWT claims
(`request.auth.*`) and request headers become `Principal`s. `Unsupported` means the value cannot
be expressed here (an HTTP-only key on a TCP filter chain, a bad value); what to do then is the
rule's business (`authz.rules`). The tables say which `when` key each generator serves.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from envoy.config.core.v3 import address_pb2, extension_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission, Principal
from envoy.type.matcher.v3 import metadata_pb2, value_pb2

from pilotfish.translate.authz import matchers as m
from pilotfish.translate.envoy_pb import pack

if TYPE_CHECKING:
    from envoy.type.matcher.v3 import string_pb2

SPIFFE_PREFIX = "spiffe://"
ENVOY_FILTER_KEY = "experimental.envoy.filters."


class Unsupported(ValueError):
    """This element of the rule cannot be expressed here (HTTP-only on TCP, bad value)."""


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


def dest_port(_: str, value: str, __: bool) -> Permission:
    return Permission(destination_port=_port(value))


def _sni(_: str, value: str, __: bool) -> Permission:
    return Permission(requested_server_name=m.string(value))


def host(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    found = [Permission(header=h) for h in m.hosts(value)]
    return found[0] if len(found) == 1 else Permission(or_rules=Permission.Set(rules=found))


def method(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    return Permission(header=m.header(":method", value))


def path(key: str, value: str, tcp: bool) -> Permission:
    _http_only(key, tcp)
    if m.is_path_template(value):
        template = extension_pb2.TypedExtensionConfig(
            name="uri-template", typed_config=pack(m.path_template(value))
        )
        return Permission(uri_template=template)
    return Permission(url_path=m.path(value))


def envoy_filter(key: str, values: tuple[str, ...], _: bool) -> Permission:
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
def src_ip(_: str, value: str, __: bool) -> Principal:
    return Principal(direct_remote_ip=_cidr(value))


def remote_ip(_: str, value: str, __: bool) -> Principal:
    return Principal(remote_ip=_cidr(value))


def namespace(_: str, value: str, __: bool) -> Principal:
    pattern = ".*".join(re.escape(part) for part in value.split("*"))
    return _authenticated(m.regex(f".*/ns/{pattern}/.*"))


def trust_domain(_: str, value: str, __: bool) -> Principal:
    if value == "*":
        return _authenticated(m.prefix(SPIFFE_PREFIX))
    if "*" not in value:
        return _authenticated(m.prefix(f"{SPIFFE_PREFIX}{value}/"))
    head, tail = value.split("*", 1)
    return _authenticated(m.regex(f"spiffe://{re.escape(head)}[^/]*{re.escape(tail)}/.*"))


def service_account(namespace: str) -> Callable[[str, str, bool], Principal]:
    def make(_: str, value: str, __: bool) -> Principal:
        ns, _sep, sa = value.rpartition("/") if "/" in value else (namespace, "", value)
        pattern = f"spiffe://.+/ns/{re.escape(ns)}/(.+/|)sa/{re.escape(sa)}(/.+)?"
        return _authenticated(m.regex(pattern))

    return make


def principal(_: str, value: str, __: bool) -> Principal:
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


def request_principal(key: str, values: tuple[str, ...], tcp: bool) -> Principal:
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


def claims(key: str, values: tuple[str, ...], tcp: bool) -> Principal:
    _http_only(key, tcp)
    return Principal(metadata=m.jwt_claim(claim_path(key), m.value_or(values)))


def claim_path(key: str) -> list[str]:
    """`request.auth.claims[a][b]` -> ["a", "b"]; `request.auth.claims[a.b]` -> ["a.b"]."""
    rest = key.removeprefix("request.auth.claims")
    names = re.findall(r"\[([^\[\]]*)\]", rest)
    if not names or "".join(f"[{n}]" for n in names) != rest:
        raise Unsupported(f"expecting request.auth.claims[<NAME>], found {key!r}")
    return names


def request_header(key: str, value: str, tcp: bool) -> Principal:
    _http_only(key, tcp)
    rest = key.removeprefix("request.headers")
    if not (rest.startswith("[") and rest.endswith("]")) or len(rest) < 3:
        raise Unsupported(f"expecting request.headers[<NAME>], found {key!r}")
    return Principal(header=m.header(rest[1:-1], value))


PERMISSION_KEYS: dict[str, Callable[[str, str, bool], Permission]] = {
    "destination.ip": _dest_ip,
    "destination.port": dest_port,
    "connection.sni": _sni,
}
PRINCIPAL_KEYS: dict[str, Callable[[str, str, bool], Principal]] = {
    "source.ip": src_ip,
    "remote.ip": remote_ip,
    "source.namespace": namespace,
    "source.trustDomain": trust_domain,
    "source.principal": principal,
}
EXTENDED_PRINCIPAL_KEYS: dict[str, Callable[[str, tuple[str, ...], bool], Principal]] = {
    "request.auth.principal": request_principal,
    "request.auth.audiences": _claim_list("aud"),
    "request.auth.presenter": _claim_list("azp"),
}
