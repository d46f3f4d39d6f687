"""Paths checked on two views (`translate.authz.path_view`): the rules RBAC gets, per action.
End to end, row by row under every normalization setting: tests/e2e/test_authz_normalization.py.
"""

from __future__ import annotations

from envoy.config.rbac.v3 import rbac_pb2
from google.protobuf import json_format

from pilotfish.config import load
from pilotfish.config.objects import AuthorizationPolicy
from pilotfish.translate.authz import matchers, path_view
from pilotfish.translate.authz.rbac import build_rbac

POLICY = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: p, namespace: default}}
spec:
  action: {action}
  rules:
  - to: [{{operation: {{{operation}}}}}]
"""


def _policies(action: str, operation: str) -> list[AuthorizationPolicy]:
    result = load(POLICY.format(action=action, operation=operation), "p.yaml")
    found: list[AuthorizationPolicy] = [
        o for o in result.objects if o.meta.kind == "AuthorizationPolicy"
    ]
    assert found, result
    return found


def _rules(action: str, operation: str, *, tcp: bool = False, view: bool = True) -> str:
    policies = _policies(action, operation)
    kind = rbac_pb2.RBAC.ALLOW if action == "ALLOW" else rbac_pb2.RBAC.DENY
    rules, _ = build_rbac(policies, kind, tcp=tcp, notes=[], path_view=view)
    assert rules is not None
    return str(json_format.MessageToJson(rules, sort_keys=True))


def _header(value: str, *, ignore_case: bool) -> str:
    found = path_view.matcher(value, ignore_case=ignore_case)
    return str(json_format.MessageToJson(found.header, sort_keys=True))


def test_deny_matches_either_view_or_a_missing_view() -> None:
    rules = json_format.Parse(_rules("DENY", "paths: [/admin]"), rbac_pb2.RBAC())
    (permission,) = rules.policies["ns[default]-policy[p]-rule[0]"].permissions
    (either,) = permission.and_rules.rules
    raw, normalized, missing = either.or_rules.rules
    assert raw.or_rules.rules[0].url_path.path.exact == "/admin"
    header = normalized.or_rules.rules[0].header
    assert (header.name, header.string_match.exact) == (path_view.HEADER, "/admin")
    assert header.string_match.ignore_case  # denies more: /Admin too
    assert missing == path_view.missing()


def test_allow_needs_both_views_exact_and_not_paths_ignore_case() -> None:
    text = _rules("ALLOW", 'paths: [/public, "/public/*"], notPaths: [/public/secret]')
    rules = json_format.Parse(text, rbac_pb2.RBAC())
    (permission,) = rules.policies["ns[default]-policy[p]-rule[0]"].permissions
    raw, raw_not, normalized, normalized_not = permission.and_rules.rules
    assert [r.url_path.path.exact or r.url_path.path.prefix for r in raw.or_rules.rules] == [
        "/public",
        "/public/",
    ]
    assert raw_not.not_rule.or_rules.rules[0].url_path.path.exact == "/public/secret"
    assert all(not r.header.string_match.ignore_case for r in normalized.or_rules.rules)
    assert [r.header.name for r in normalized.or_rules.rules] == [path_view.HEADER] * 2
    (secret,) = normalized_not.not_rule.or_rules.rules
    assert secret.header.string_match.ignore_case  # an ALLOW's notPaths denies more with case
    assert "invertMatch" not in text  # a missing view never satisfies an ALLOW


def test_without_the_view_and_on_tcp_paths_are_istio_s_only() -> None:
    assert path_view.HEADER not in _rules("DENY", "paths: [/admin]", view=False)
    assert path_view.HEADER not in _rules("DENY", "paths: [/admin]", tcp=True)
    assert path_view.HEADER not in _rules("DENY", "methods: [GET]")


def test_templates_become_a_regex_on_the_view() -> None:
    assert matchers.path_template_regex("/api/{*}/v.1/{**}") == r"/api/[^/]+/v\.1/.*"
    assert "(?i)/api/[^/]+/x" in _header("/api/{*}/x", ignore_case=True)
    assert '"regex": ".+"' in _header("*", ignore_case=True)  # any path: no case to ignore


def test_only_policies_on_paths_keep_the_view_on() -> None:
    assert path_view.uses_paths(_policies("DENY", "notPaths: [/x]"))
    assert not path_view.uses_paths(_policies("DENY", "methods: [GET]"))
    chain = path_view.http_filter()
    assert not chain.disabled  # on before any route is known (a JWT filter may re-route)
    assert path_view.is_on({})
    assert not path_view.is_on({path_view.FILTER: path_view.turned_off()})
