"""Istio's semantic checks of EnvoyFilter and ProxyConfig (webhook wording).

EnvoyFilter, per config patch: applyTo, patch and its operation present, a value unless REMOVE, a
proxyVersion that compiles, a match of the class `applyTo` names (listener, route configuration,
cluster), a filter match with a name, a subFilter only for HTTP_FILTER under the HTTP connection
manager, no type of Envoy's v2 API in the value. ProxyConfig: concurrency not negative. Envoy's own
parsing of `patch.value` is not done.
"""

from __future__ import annotations

from typing import Any

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


def _v2_type(value: Any) -> str | None:
    """The first `@type` of Envoy's v2 API in a patch value: Istio no longer knows those types,
    so its parsing of the value fails (the value's other contents are not parsed here)."""
    if isinstance(value, dict):
        kind = value.get("@type")
        name = kind.rsplit("/", 1)[-1] if isinstance(kind, str) else ""
        if name.startswith("envoy.") and ".v2." in f"{name}.":
            return f"could not resolve Any message type: {kind}"
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return None
    return next((t for t in (_v2_type(v) for v in values) if t is not None), None)


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
    v2 = _v2_type(cp.patch.value)
    if v2 is not None:
        found.error(
            f"{path}.patch.value",
            E + f"referenced type unknown (hint: try using the v3 XDS API): {v2}",
        )
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
