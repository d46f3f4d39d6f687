"""`pilotfish x authz check POD`: the authorization rules a pod's Envoy enforces, read from its
admin `/config_dump`, as istioctl's `x authz check` prints them: the table alone, one row per
AuthorizationPolicy, `ACTION  AuthorizationPolicy  RULES` (name.namespace and its number of
rules), DENY, ALLOW, LOG then CUSTOM (istioctl's order), names sorted within each, padded by 3.

Envoy RBAC policies carry Istio's names `ns[NS]-policy[NAME]-rule[I]`; they are found in the
listeners' HTTP and network RBAC filters and, since pilotfish sends HTTP rules with the routes,
in the route configurations' per-filter RBAC config. CUSTOM rules (the shadow rules that send a
request to an ext_authz provider, `istio-ext-authz-<provider>-...`) are listed as CUSTOM. An
RBAC config with no policy shows istioctl's `_anonymous_match_nothing_`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import running_mesh
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.proxy_config import _admin, _section, go_tabwriter
from pilotfish.translate.authz.custom import UNMARKED_SUFFIX

RBAC_TYPES = (
    "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
)
PER_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
CUSTOM_PREFIX = "istio-ext-authz-"
ANONYMOUS = "_anonymous_match_nothing_"
ORDER = ("DENY", "ALLOW", "LOG", "CUSTOM")
_NAME = re.compile(r"ns\[(.+)\]-policy\[(.+)\]-rule\[(.+)\]")


def _rbac_configs(dump: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every RBAC filter config (HTTP and network) in the listeners and the routes."""
    listeners = _section(dump, "ListenersConfigDump")
    for entry in listeners.get("dynamic_listeners", []):
        listener = (entry.get("active_state") or {}).get("listener") or {}
        for chain in listener.get("filter_chains", []):
            for item in chain.get("filters", []):
                config = item.get("typed_config") or {}
                if config.get("@type") in RBAC_TYPES:
                    yield config
                if config.get("@type") == HCM_TYPE:
                    for http in config.get("http_filters", []):
                        inner = http.get("typed_config") or {}
                        if inner.get("@type") in RBAC_TYPES:
                            yield inner
    routes = _section(dump, "RoutesConfigDump")
    for entry in routes.get("dynamic_route_configs", []):
        for vhost in (entry.get("route_config") or {}).get("virtual_hosts", []):
            for config in (vhost.get("typed_per_filter_config") or {}).values():
                if config.get("@type") == PER_ROUTE_TYPE and "rbac" in config:
                    yield config["rbac"]


def _split(name: str) -> tuple[str, str]:
    """`ns[foo]-policy[bar]-rule[0]` -> (`bar.foo`, `0`)."""
    found = _NAME.search(name)
    if found is None:
        return name, "0"
    return f"{found.group(2)}.{found.group(1)}", found.group(3)


def policy_rows(dump: dict[str, Any]) -> list[list[str]]:
    """istioctl's rows (header first) for a config dump."""
    rules: dict[tuple[str, str], set[str]] = {}

    def add(action: str, name: str, rule: str) -> None:
        rules.setdefault((action, name), set()).add(rule)

    for config in _rbac_configs(dump):
        enforced = config.get("rules")
        if enforced is not None:
            policies = enforced.get("policies") or {}
            for name in policies:
                if not name.endswith(UNMARKED_SUFFIX):  # a CUSTOM rule's guard: its CUSTOM row
                    add(enforced.get("action", "ALLOW"), *_split(name))
            if not policies:
                add(enforced.get("action", "ALLOW"), ANONYMOUS, "0")
        shadow = config.get("shadow_rules") or {}
        for name in shadow.get("policies") or {}:
            if name.startswith(CUSTOM_PREFIX):
                add("CUSTOM", *_split(name))
    rows = [["ACTION", "AuthorizationPolicy", "RULES"]]
    for action, name in sorted(rules, key=lambda k: (ORDER.index(k[0]), k[1])):
        rows.append([action, name, str(len(rules[(action, name)]))])
    return rows


def authz_check_command(pod: str, namespace: str | None, state_dir: Path) -> int:
    info = running_mesh(state_dir)
    try:
        name, row = resolve_pod(info, pod, namespace)
    except PodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    admin = admin_address(row)
    try:
        dump = _admin(admin, "/config_dump")
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {name}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
        return 1
    print(go_tabwriter(policy_rows(dump), padding=3))
    return 0
