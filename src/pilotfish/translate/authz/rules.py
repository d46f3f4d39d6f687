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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission, Principal

from pilotfish.translate.authz import attributes as a
from pilotfish.translate.authz import path_view
from pilotfish.translate.authz.attributes import Unsupported

if TYPE_CHECKING:
    from pilotfish.config.models.security import Condition, Operation, Rule, Source


class InvalidRule(ValueError):
    """The rule cannot be used at all (unknown `when` key): skipped whatever the action."""


Views = Literal["raw", "either", "both"]
"""Which views of the path a rule's `paths`/`notPaths` are checked on (`authz.path_view`): the
path as normalized only (Istio's rule), either view (DENY, AUDIT, CUSTOM) or both (ALLOW)."""
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


def _when(
    conditions: Sequence[Condition], namespace: str
) -> tuple[list[_Element[Permission]], list[_Element[Principal]]]:
    """`when` conditions split into permission and principal elements (appended last)."""
    permissions: list[_Element[Permission]] = []
    principals: list[_Element[Principal]] = []
    for condition in conditions:
        key = condition.key or ""
        values, nots = tuple(condition.values), tuple(condition.not_values)
        if key in a.PERMISSION_KEYS:
            permissions.append(_Element(key, values, nots, a.PERMISSION_KEYS[key]))
        elif key.startswith(a.ENVOY_FILTER_KEY):
            permissions.append(_Element(key, values, nots, a.envoy_filter, extended=True))
        elif key in a.PRINCIPAL_KEYS:
            principals.append(_Element(key, values, nots, a.PRINCIPAL_KEYS[key]))
        elif key == "source.serviceAccount":
            principals.append(_Element(key, values, nots, a.service_account(namespace)))
        elif key in a.EXTENDED_PRINCIPAL_KEYS:
            make = a.EXTENDED_PRINCIPAL_KEYS[key]
            principals.append(_Element(key, values, nots, make, extended=True))
        elif key.startswith("request.headers"):
            principals.append(_Element(key, values, nots, a.request_header))
        elif key.startswith("request.auth.claims"):
            principals.append(_Element(key, values, nots, a.claims, extended=True))
        else:
            raise InvalidRule(f"unknown attribute {key!r}")
    return permissions, principals


def _source(source: Source, namespace: str) -> list[_Element[Principal]]:
    s = source
    found = [
        _Element("source.principal", s.principals, s.not_principals, a.principal),
        _Element(
            "request.auth.principal",
            s.request_principals,
            s.not_request_principals,
            a.request_principal,
            extended=True,
        ),
        _Element(
            "source.serviceAccount",
            s.service_accounts,
            s.not_service_accounts,
            a.service_account(namespace),
        ),
        _Element("source.trustDomain", s.trust_domains, s.not_trust_domains, a.trust_domain),
        _Element("source.namespace", s.namespaces, s.not_namespaces, a.namespace),
        _Element("remote.ip", s.remote_ip_blocks, s.not_remote_ip_blocks, a.remote_ip),
        _Element("source.ip", s.ip_blocks, s.not_ip_blocks, a.src_ip),
    ]
    return [e for e in found if e.values or e.not_values]


def _operation(o: Operation) -> list[_Element[Permission]]:
    found = [
        _Element("hosts", o.hosts, o.not_hosts, a.host),
        _Element("methods", o.methods, o.not_methods, a.method),
        _Element("paths", o.paths, o.not_paths, a.path),
        _Element("ports", o.ports, o.not_ports, a.dest_port),
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


def _paths(
    element: _Element[Permission], *, tcp: bool, strict: bool, views: Views
) -> list[Permission]:
    """AND-parts of a `paths` element on the views asked for. On the fully normalized view the
    comparison ignores case where that makes the rule deny more."""
    raw = _generate(element, tcp=tcp, strict=strict)
    if views == "raw" or not raw:  # TCP: paths are HTTP-only, no part left (or raised)
        return raw
    deny_more = views == "either"

    def on_view(ignore_case: bool) -> Callable[[str, str, bool], Permission]:
        return lambda _key, value, _tcp: path_view.matcher(value, ignore_case=ignore_case)

    normalized = [
        *_generate(_Element(element.key, element.values, (), on_view(deny_more)), tcp=tcp,
                   strict=strict),
        *_generate(_Element(element.key, (), element.not_values, on_view(not deny_more)),
                   tcp=tcp, strict=strict),
    ]  # fmt: skip
    if views == "both":
        return raw + normalized
    either = [_and(raw), _and(normalized), path_view.missing()]
    return [Permission(or_rules=Permission.Set(rules=either))]


def _and(items: list[Permission]) -> Permission:
    return items[0] if len(items) == 1 else Permission(and_rules=Permission.Set(rules=items))


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


def rule_policy(
    rule: Rule, namespace: str, *, tcp: bool, strict: bool, views: Views = "raw"
) -> rbac_pb2.Policy:
    """The RBAC policy of one rule, its paths checked on `views`. Raises `Unsupported` (strict:
    ALLOW) or `InvalidRule`."""
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
        ands = [
            p
            for e in elements
            for p in (
                _paths(e, tcp=tcp, strict=strict, views=views)
                if e.key == "paths"
                else _generate(e, tcp=tcp, strict=strict)
            )
        ]
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
