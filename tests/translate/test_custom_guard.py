"""A CUSTOM rule is also a DENY of the requests it selects that no provider's marking filter
marked (`custom._unless_marked`): a chain without the providers' filters (a connection kept
alive from before a provider was declared, until its listener's drain ends) refuses what the
rule selects instead of letting it through. Where the pair runs, the marking filter marks every
request the rule selects, so the guard never matches there (`tests/e2e/
test_istio_sample_images.py::test_external_authorization_task` sees both, through Envoy)."""

from __future__ import annotations

from envoy.config.rbac.v3 import rbac_pb2

from pilotfish.translate.authz.custom import UNMARKED_SUFFIX, _unless_marked
from pilotfish.translate.authz.providers import MARK_KEY
from pilotfish.translate.authz.rbac import HTTP_RBAC


def test_each_custom_rule_denies_what_it_selects_unless_a_provider_marked_it() -> None:
    rules = rbac_pb2.RBAC(action=rbac_pb2.RBAC.DENY)
    rule = rules.policies["istio-ext-authz-sample-ns[foo]-policy[ext-authz]-rule[0]"]
    rule.permissions.add().url_path.path.exact = "/headers"
    rule.principals.add().authenticated.principal_name.exact = "spiffe://cluster.local/ns/a/sa/b"
    rule.principals.add().direct_remote_ip.address_prefix = "10.0.0.0"
    deny = _unless_marked(None, rules)
    assert deny.action == rbac_pb2.RBAC.DENY
    (key,) = deny.policies
    assert key == "istio-ext-authz-sample-ns[foo]-policy[ext-authz]-rule[0]" + UNMARKED_SUFFIX
    guard = deny.policies[key]
    assert list(guard.permissions) == list(rule.permissions)  # what the rule selects
    (both,) = guard.principals
    selected, unmarked = both.and_ids.ids
    assert list(selected.or_ids.ids) == list(rule.principals)  # by whom, as the rule says
    mark = unmarked.not_id.metadata  # and no provider's marking filter marked it
    assert (mark.filter, [p.key for p in mark.path]) == (HTTP_RBAC, [MARK_KEY])
    assert mark.value.present_match
    # merged into the DENY rules already there (a bad provider's, say)
    again = _unless_marked(deny, rules)
    assert again is deny and len(deny.policies) == 1
