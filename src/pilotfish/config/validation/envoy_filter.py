"""Istio's semantic checks of EnvoyFilter and ProxyConfig (webhook wording).

EnvoyFilter, per config patch: applyTo, patch and its operation present, a value unless REMOVE, a
proxyVersion that compiles, a match of the class `applyTo` names (listener, route configuration,
cluster), a filter match with a name, a subFilter only for HTTP_FILTER under the HTTP connection
manager; then the value as the Envoy message applyTo names (`envoy_values`: an error when it does
not parse, a warning for fields Envoy does not have). ProxyConfig: concurrency not negative.
"""

from __future__ import annotations

from pilotfish.config.formats import regex_problem
from pilotfish.config.models.networking import (
    EnvoyConfigObjectPatch,
    EnvoyFilterSpec,
    ProxyConfigSpec,
)
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings
from pilotfish.config.validation.envoy_values import value_problems

LISTENER_CLASS = ("LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER")
ROUTE_CLASS = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
HCM = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")
E = "Envoy filter: "


def _patch(found: Findings, path: str, cp: EnvoyConfigObjectPatch) -> None:
    if cp.apply_to in (None, "INVALID"):
        found.error(f"{path}.applyTo", E + "missing applyTo")
        return
    if cp.patch is None:
        found.error(path, E + "missing patch")
        return
    if cp.patch.operation in (None, "INVALID"):
        found.error(f"{path}.patch", E + "missing patch operation")
        return
    if cp.patch.operation != "REMOVE" and cp.patch.value is None:
        found.error(f"{path}.patch", E + "missing patch value for non-remove operation")
        return
    if _match_stops(found, path, cp):
        return
    if isinstance(cp.patch.value, dict):  # then the value as Envoy's message (Istio's order)
        error, warning = value_problems(cp.apply_to, cp.patch.value)
        if error is not None:
            found.error(f"{path}.patch.value", error)
        elif warning is not None:
            found.warn(f"{path}.patch.value", warning)


def _match_stops(found: Findings, path: str, cp: EnvoyConfigObjectPatch) -> bool:
    """Istio's checks of the match against applyTo; True where Istio then skips the patch's
    value (an invalid proxyVersion regex, a listener-class mismatch)."""
    match = cp.match
    if match is None:
        return False
    if match.proxy is not None and match.proxy.proxy_version:
        problem = regex_problem(match.proxy.proxy_version)
        if problem is not None:
            found.error(
                f"{path}.match.proxy.proxyVersion",
                E + f"invalid regex for proxy version, [{problem}]",
            )
            return True
    has_object = any(
        x is not None for x in (match.listener, match.route_configuration, match.cluster)
    )
    if cp.apply_to in LISTENER_CLASS and has_object:
        if match.listener is None:
            found.error(
                f"{path}.match",
                E + "applyTo for listener class objects cannot have non listener match",
            )
            return True
        chain = match.listener.filter_chain
        flt = chain.filter if chain is not None else None
        if flt is None:
            return False
        where = f"{path}.match.listener.filterChain.filter"
        if cp.apply_to in ("LISTENER", "FILTER_CHAIN"):
            found.warn(where, E + f"filter match has no effect when used with {cp.apply_to}")
        if not flt.name:
            found.error(where, E + "filter match has no name to match on")
            return True
        if flt.sub_filter is not None:
            if cp.apply_to != "HTTP_FILTER":
                found.error(where, E + "subfilter match can be used with applyTo HTTP_FILTER only")
                return True
            if flt.name not in HCM:
                found.error(where, E + f"subfilter match requires filter match with {HCM[0]}")
                return True
            if not flt.sub_filter.name:
                found.error(where, E + "subfilter match has no name to match on")
                return True
    elif cp.apply_to in ROUTE_CLASS and has_object and match.route_configuration is None:
        found.error(
            f"{path}.match",
            E + "applyTo for http route class objects cannot have non route configuration match",
        )
    elif cp.apply_to == "CLUSTER" and has_object and match.cluster is None:
        found.error(
            f"{path}.match", E + "applyTo for cluster class objects cannot have non cluster match"
        )
    return False


def validate_envoy_filter(spec: EnvoyFilterSpec) -> list[Problem]:
    found = Findings()
    selector = spec.workload_selector
    if selector is not None and not selector.labels:
        found.warn(
            "spec.workloadSelector",
            E + "workload selector specified without labels, will be applied to all services "
            "in namespace",
        )
    for index, cp in enumerate(spec.config_patches):
        _patch(found, f"spec.configPatches[{index}]", cp)
    return found.problems


def validate_proxy_config(spec: ProxyConfigSpec) -> list[Problem]:
    found = Findings()
    if spec.concurrency is not None and spec.concurrency < 0:
        found.error("spec.concurrency", "concurrency must be greater than or equal to 0")
    return found.problems
