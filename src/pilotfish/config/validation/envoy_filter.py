"""Istio's semantic checks of EnvoyFilter and ProxyConfig (webhook wording).

EnvoyFilter (Istio's ValidateEnvoyFilter): always the warning that EnvoyFilter exposes Envoy's
internals; a workload selector without wildcards or empty keys (else only that error), a warning
without labels; per config patch (a WAYPOINT one is not checked): applyTo, patch and its
operation present, a value unless REMOVE, a proxyVersion that compiles (a warning past 1024
characters, which istiod ignores), a match of the class `applyTo` names (listener, route
configuration, cluster), a filter match with a name, a subFilter only for HTTP_FILTER under the
HTTP connection manager, a warning for a filter named by its deprecated name; then the value as
the Envoy message applyTo names (`envoy_values`: an error when it does not parse, a warning for
fields Envoy does not have or for filters named without a typed_config). ProxyConfig:
concurrency not negative, its selector as validateWorkloadSelector checks it.
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
from pilotfish.config.yaml_text import join_path

LISTENER_CLASS = ("LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER")
ROUTE_CLASS = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
HCM = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")
E = "Envoy filter: "
UNSTABLE = (
    "EnvoyFilter exposes internal implementation details that may change at any time. "
    "Prefer other APIs if possible, and exercise extreme caution, especially around upgrades."
)
MAX_PROXY_VERSION = 1024
"""Istio's bound on a proxyVersion match: longer ones are not compiled, and istiod ignores them."""
DEPRECATED_NAMES = {
    "envoy.buffer": "envoy.filters.http.buffer",
    "envoy.client_ssl_auth": "envoy.filters.network.client_ssl_auth",
    "envoy.cors": "envoy.filters.http.cors",
    "envoy.csrf": "envoy.filters.http.csrf",
    "envoy.fault": "envoy.filters.http.fault",
    "envoy.grpc_http1_bridge": "envoy.filters.http.grpc_http1_bridge",
    "envoy.grpc_json_transcoder": "envoy.filters.http.grpc_json_transcoder",
    "envoy.grpc_web": "envoy.filters.http.grpc_web",
    "envoy.gzip": "envoy.filters.http.gzip",
    "envoy.health_check": "envoy.filters.http.health_check",
    "envoy.http_connection_manager": "envoy.filters.network.http_connection_manager",
    "envoy.http_dynamo_filter": "envoy.filters.http.dynamo",
    "envoy.ip_tagging": "envoy.filters.http.ip_tagging",
    "envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
    "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
    "envoy.listener.original_src": "envoy.filters.listener.original_src",
    "envoy.listener.proxy_protocol": "envoy.filters.listener.proxy_protocol",
    "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
    "envoy.lua": "envoy.filters.http.lua",
    "envoy.mongo_proxy": "envoy.filters.network.mongo_proxy",
    "envoy.rate_limit": "envoy.filters.http.ratelimit",
    "envoy.ratelimit": "envoy.filters.network.ratelimit",
    "envoy.redis_proxy": "envoy.filters.network.redis_proxy",
    "envoy.router": "envoy.filters.http.router",
    "envoy.squash": "envoy.filters.http.squash",
    "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
}
"""Istio's deprecated filter names (xds.DeprecatedFilterNames) -> the canonical name a match
should use. `envoy.ext_authz` names two filters there (Istio's reversed map picks either at
random): a filter match gets the network one, a subFilter match the HTTP one."""


def _patch(found: Findings, path: str, cp: EnvoyConfigObjectPatch) -> None:
    if cp.match is not None and cp.match.context == "WAYPOINT":
        return  # Istio does not check waypoint patches yet
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
        error, warning = value_problems(str(cp.apply_to), cp.patch.value)
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
    version = match.proxy.proxy_version if match.proxy is not None else None
    if version and len(version.encode()) > MAX_PROXY_VERSION:
        found.warn(
            f"{path}.match.proxy.proxyVersion",
            E + f"proxyVersion match exceeds {MAX_PROXY_VERSION} characters and will be ignored",
        )
    elif version:
        problem = regex_problem(version)
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
        _deprecated_names(found, where, flt.name, True)
        if flt.sub_filter is not None and flt.sub_filter.name:
            _deprecated_names(found, f"{where}.subFilter", flt.sub_filter.name, False)
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


def _deprecated_names(found: Findings, where: str, name: str, network: bool) -> None:
    canonical = DEPRECATED_NAMES.get(name)
    if name == "envoy.ext_authz":
        canonical = f"envoy.filters.{'network' if network else 'http'}.ext_authz"
    if canonical is not None:
        found.warn(
            f"{where}.name", f'using deprecated filter name "{name}"; use "{canonical}" instead'
        )


def selector_problems(labels: dict[str, str], where: str) -> list[Problem]:
    """Istio's ValidateAlphaWorkloadSelector / validateWorkloadSelector errors: empty keys and
    wildcards (each at the label's path)."""
    found = Findings()
    for key, value in labels.items():
        at = join_path(where, key) if key else where
        if not key:
            found.error(at, f'empty key is not supported in selector: "={value}"')
        if "*" in key or "*" in value:
            found.error(at, f'wildcard is not supported in selector: "{key}={value}"')
    return found.problems


def validate_envoy_filter(spec: EnvoyFilterSpec) -> list[Problem]:
    found = Findings()
    selector = spec.workload_selector
    if selector is not None:
        errors = selector_problems(selector.labels, "spec.workloadSelector.labels")
        if errors:
            return errors  # Istio returns the selector's error alone
    found.warn("", UNSTABLE)
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
    if spec.selector is not None:
        found.problems += selector_problems(spec.selector.match_labels, "spec.selector.matchLabels")
        if not spec.selector.match_labels:
            found.warn("spec.selector", "workload selector specified without labels")
    if spec.concurrency is not None and spec.concurrency < 0:
        found.error("spec.concurrency", "concurrency must be greater than or equal to 0")
    return found.problems
