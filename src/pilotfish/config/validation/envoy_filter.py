"""Istio's semantic checks of EnvoyFilter and ProxyConfig (webhook wording).

EnvoyFilter, per config patch: applyTo, patch and its operation present, a value unless REMOVE, a
proxyVersion that compiles, a match of the class `applyTo` names (listener, route configuration,
cluster), a filter match with a name, a subFilter only for HTTP_FILTER under the HTTP connection
manager. ProxyConfig: concurrency not negative. Envoy's own parsing of `patch.value` is not done.
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
    if cp.patch.operation != "REMOVE" and not cp.patch.value:
        found.error(f"{path}.patch", E + "missing patch value for non-remove operation")
        return
    match = cp.match
    if match is None:
        return
    if match.proxy is not None and match.proxy.proxy_version:
        problem = regex_problem(match.proxy.proxy_version)
        if problem is not None:
            found.error(
                f"{path}.match.proxy.proxyVersion",
                E + f"invalid regex for proxy version, [{problem}]",
            )
            return
    has_object = any(
        x is not None for x in (match.listener, match.route_configuration, match.cluster)
    )
    if cp.apply_to in LISTENER_CLASS and has_object:
        if match.listener is None:
            found.error(
                f"{path}.match",
                E + "applyTo for listener class objects cannot have non listener match",
            )
            return
        chain = match.listener.filter_chain
        flt = chain.filter if chain is not None else None
        if flt is None:
            return
        where = f"{path}.match.listener.filterChain.filter"
        if cp.apply_to in ("LISTENER", "FILTER_CHAIN"):
            found.warn(where, E + f"filter match has no effect when used with {cp.apply_to}")
        if not flt.name:
            found.error(where, E + "filter match has no name to match on")
        elif flt.sub_filter is not None:
            if cp.apply_to != "HTTP_FILTER":
                found.error(where, E + "subfilter match can be used with applyTo HTTP_FILTER only")
            elif flt.name not in HCM:
                found.error(where, E + f"subfilter match requires filter match with {HCM[0]}")
            elif not flt.sub_filter.name:
                found.error(where, E + "subfilter match has no name to match on")
    elif cp.apply_to in ROUTE_CLASS and has_object and match.route_configuration is None:
        found.error(
            f"{path}.match",
            E + "applyTo for http route class objects cannot have non route configuration match",
        )
    elif cp.apply_to == "CLUSTER" and has_object and match.cluster is None:
        found.error(
            f"{path}.match", E + "applyTo for cluster class objects cannot have non cluster match"
        )


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
