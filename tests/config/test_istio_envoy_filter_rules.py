"""Istio's ValidateEnvoyFilter and ValidateProxyConfig (istio/istio pkg/config/validation,
envoyfilter/envoyfilter.go and validation.go), rule by rule: each case is a spec and the exact
diagnostics `validate` gives (level, line, field path, Istio's message), plus what
`analyze` reports for it (IST0106 for an error, IST0133 for a warning)."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.validation.envoy_filter import UNSTABLE

API = {"EnvoyFilter": "networking.istio.io/v1alpha3", "ProxyConfig": "networking.istio.io/v1beta1"}
ROUTER = (
    "{name: envoy.filters.http.router, typed_config: {'@type': "
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"
)


def diagnostics(kind: str, spec: str) -> list[str]:
    text = f"apiVersion: {API[kind]}\nkind: {kind}\nmetadata:\n  name: x\nspec:\n{spec}"
    return [f"{d.level}: {d}" for d in load(text, "k.yaml").diagnostics]


def at(
    line: int, path: str, message: str, level: str = "warning", kind: str = "EnvoyFilter"
) -> str:
    where = f" at {path}" if path else ""
    return f"{level}: k.yaml:{line}: {kind} default/x{where}: {message}"


FIRST = at(1, "", UNSTABLE)  # every EnvoyFilter, at its first line
LISTENER = (
    "  configPatches:\n  - applyTo: {apply}\n    match:\n      listener:\n        filterChain:\n"
    "          filter: {filter}\n    patch: {{operation: MERGE, value: {value}}}\n"
)

CASES = [
    (
        "valid: only the instability warning",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_FIRST, value: "
        + ROUTER
        + "}\n",
        [FIRST],
    ),
    (
        "a WAYPOINT patch is not checked",
        "EnvoyFilter",
        "  configPatches:\n  - match: {context: WAYPOINT, waypoint: {}}\n"
        "    patch: {operation: MERGE}\n",
        [FIRST],
    ),
    (
        "a proxyVersion past 1024 characters is ignored, not compiled",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: CLUSTER\n    match: {proxy: {proxyVersion: '"
        + "(" * 1025
        + "'}}\n    patch: {operation: REMOVE}\n",
        [
            FIRST,
            at(
                8,
                "spec.configPatches[0].match.proxy.proxyVersion",
                "Envoy filter: proxyVersion match exceeds 1024 characters and will be ignored",
            ),
        ],
    ),
    (
        "deprecated filter and subfilter names",
        "EnvoyFilter",
        LISTENER.format(
            apply="HTTP_FILTER",
            filter="{name: envoy.http_connection_manager, subFilter: {name: envoy.router}}",
            value=ROUTER,
        ),
        [
            FIRST,
            at(
                11,
                "spec.configPatches[0].match.listener.filterChain.filter.name",
                'using deprecated filter name "envoy.http_connection_manager"; use '
                '"envoy.filters.network.http_connection_manager" instead',
            ),
            at(
                11,
                "spec.configPatches[0].match.listener.filterChain.filter.subFilter.name",
                'using deprecated filter name "envoy.router"; '
                'use "envoy.filters.http.router" instead',
            ),
        ],
    ),
    (
        "envoy.ext_authz as a network filter",
        "EnvoyFilter",
        LISTENER.format(
            apply="NETWORK_FILTER",
            filter="{name: envoy.ext_authz}",
            value="{name: t, typed_config: {'@type': type.googleapis.com/"
            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: s, cluster: c}}",
        ),
        [
            FIRST,
            at(
                11,
                "spec.configPatches[0].match.listener.filterChain.filter.name",
                'using deprecated filter name "envoy.ext_authz"; use '
                '"envoy.filters.network.ext_authz" instead',
            ),
        ],
    ),
    (
        "a filter named without typed_config",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: HTTP_FILTER\n"
        "    patch: {operation: INSERT_FIRST, value: {name: envoy.filters.http.router}}\n",
        [
            FIRST,
            at(
                8,
                "spec.configPatches[0].patch.value",
                "using deprecated types by name without typed_config; envoy.filters.http.router",
            ),
        ],
    ),
    (
        "a filter configured by discovery (ECDS) needs no typed_config",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch:\n      operation: INSERT_FIRST\n"
        "      value: {name: something, config_discovery: {config_source: {ads: {}}, "
        "type_urls: [type.googleapis.com/envoy.extensions.filters.http.router.v3.Router]}}\n",
        [FIRST],
    ),
    (
        "a cluster's transport socket named without typed_config (nested, singular)",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: CLUSTER\n"
        "    patch: {operation: MERGE, value: {transport_socket: {name: tls}}}\n",
        [
            FIRST,
            at(
                8,
                "spec.configPatches[0].patch.value",
                "using deprecated types by name without typed_config; tls",
            ),
        ],
    ),
    (
        "filters of a list are not looked into (Istio follows singular fields only)",
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: FILTER_CHAIN\n"
        "    patch: {operation: ADD, value: {filters: [{name: envoy.filters.network.tcp_proxy}]}}"
        "\n",
        [FIRST],
    ),
    (
        "a selector with a wildcard: that error alone",
        "EnvoyFilter",
        "  workloadSelector: {labels: {app: 'a*'}}\n  configPatches:\n  - applyTo: CLUSTER\n"
        "    patch: {operation: REMOVE}\n",
        [
            at(
                6,
                "spec.workloadSelector.labels.app",
                'wildcard is not supported in selector: "app=a*"',
                "error",
            )
        ],
    ),
    (
        "ProxyConfig selector with a wildcard",
        "ProxyConfig",
        "  selector: {matchLabels: {app: 'a*'}}\n  concurrency: 1\n",
        [
            at(
                6,
                "spec.selector.matchLabels.app",
                'wildcard is not supported in selector: "app=a*"',
                "error",
                "ProxyConfig",
            )
        ],
    ),
    (
        "ProxyConfig selector without labels",
        "ProxyConfig",
        "  selector: {}\n  concurrency: 1\n",
        [
            at(
                6,
                "spec.selector",
                "workload selector specified without labels",
                "warning",
                "ProxyConfig",
            )
        ],
    ),
]


@pytest.mark.parametrize(("title", "kind", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(title: str, kind: str, spec: str, expected: list[str]) -> None:
    assert diagnostics(kind, spec) == expected


def test_analyze_reports_the_instability_warning_as_istioctl() -> None:
    spec = CASES[0][2]
    text = (
        f"apiVersion: {API['EnvoyFilter']}\nkind: EnvoyFilter\nmetadata:\n  name: x\nspec:\n{spec}"
    )
    (message,) = analyze(load(text, "k.yaml"), cluster=False)
    assert str(message) == (
        f"Warning [IST0133] (EnvoyFilter default/x k.yaml:1) Schema validation warning: {UNSTABLE}"
    )
