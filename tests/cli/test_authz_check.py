"""`pilotfish x authz check`'s pure core: istioctl's rows from an Envoy config dump, with the
rules where pilotfish puts them (HTTP rules per route, TCP rules and CUSTOM in listeners)."""

from __future__ import annotations

from typing import Any

from pilotfish.cli.authz_check import HCM_TYPE, PER_ROUTE_TYPE, RBAC_TYPES, policy_rows

HTTP_RBAC, NETWORK_RBAC = RBAC_TYPES


def _policies(*names: str) -> dict[str, Any]:
    return {name: {"permissions": [{"any": True}], "principals": [{"any": True}]} for name in names}


def _dump() -> dict[str, Any]:
    http_filters = [
        {"name": "pilotfish.authz.custom.ext", "typed_config": {"@type": HTTP_RBAC}},
        {"name": "pilotfish.authz.deny", "typed_config": {"@type": HTTP_RBAC}},  # placeholder
    ]
    listener = {
        "name": "inbound_127.0.0.1_8080",
        "filter_chains": [
            {"filters": [{"typed_config": {"@type": HCM_TYPE, "http_filters": http_filters}}]},
            {
                "filters": [
                    {
                        "typed_config": {
                            "@type": NETWORK_RBAC,
                            "rules": {
                                "action": "DENY",
                                "policies": _policies("ns[foo]-policy[deny-tcp]-rule[0]"),
                            },
                        }
                    }
                ]
            },
        ],
    }
    per_route = {
        "pilotfish.authz.custom.ext": {
            "@type": PER_ROUTE_TYPE,
            "rbac": {
                "shadow_rules": {
                    "action": "DENY",
                    "policies": _policies("istio-ext-authz-ext-ns[foo]-policy[ext]-rule[0]"),
                }
            },
        },
        "pilotfish.authz.deny": {
            "@type": PER_ROUTE_TYPE,
            "rbac": {
                "rules": {
                    "action": "DENY",
                    "policies": _policies(
                        "ns[foo]-policy[deny-tcp]-rule[1]",
                        "ns[foo]-policy[deny-get]-rule[0]",
                        "istio-ext-authz-gone-ns[foo]-policy[bad]-rule[0]"
                        "-deny-due-to-bad-CUSTOM-action",
                    ),
                },
                # dry-run rules are not enforced: not listed (as istioctl)
                "shadow_rules": {
                    "action": "DENY",
                    "policies": _policies("ns[foo]-policy[dry]-rule[0]"),
                },
            },
        },
        "pilotfish.authz.allow": {
            "@type": PER_ROUTE_TYPE,
            "rbac": {"rules": {"policies": {}}},  # ALLOW (the default) with no policy
        },
    }
    routes = {"route_config": {"virtual_hosts": [{"typed_per_filter_config": per_route}]}}
    return {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": [{"active_state": {"listener": listener}}],
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                "dynamic_route_configs": [routes],
            },
        ]
    }


def test_rows_in_istioctls_shape() -> None:
    assert policy_rows(_dump()) == [
        ["ACTION", "AuthorizationPolicy", "RULES"],
        ["DENY", "bad.foo", "1"],
        ["DENY", "deny-get.foo", "1"],
        ["DENY", "deny-tcp.foo", "2"],
        ["ALLOW", "_anonymous_match_nothing_", "1"],
        ["CUSTOM", "ext.foo", "1"],  # istioctl lists CUSTOM last
    ]


def test_no_policy_no_rows() -> None:
    assert policy_rows({"configs": []}) == [["ACTION", "AuthorizationPolicy", "RULES"]]
