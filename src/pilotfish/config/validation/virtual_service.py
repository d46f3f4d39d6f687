"""Istio's semantic checks of a VirtualService: hosts, gateways, routes, weights, matches,
regexes, durations, redirects, faults, retries, mirrors and delegation."""

from __future__ import annotations

from pilotfish.config.formats import auto_sni_problem, cidr_problem, regex_problem
from pilotfish.config.models.networking import (
    Destination,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    Percent,
    RouteDestination,
    StringMatch,
    VirtualServiceSpec,
)
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings
from pilotfish.config.yaml_text import join_path


def validate_virtual_service(spec: VirtualServiceSpec) -> list[Problem]:
    found = Findings()
    is_delegate = not spec.hosts
    if is_delegate and spec.gateways:
        found.error("spec.gateways", "a delegate VirtualService (no hosts) must not set gateways")
    for field, routes in (("tls", spec.tls), ("tcp", spec.tcp)):
        if is_delegate and routes:
            found.error(
                f"spec.{field}", f"delegate virtual service must have no {field} route specified"
            )
    # Envoy's AUTO_PASSTHROUGH SNI names are hosts of a VirtualService with SNI routes bound to
    # gateways, and SNI hosts of any VirtualService not bound to the mesh (Istio's isGateway)
    not_mesh = "mesh" not in spec.gateways
    sni = any(m.sni_hosts for tls in spec.tls for m in tls.match)
    for index, host in enumerate(spec.hosts):
        _host(found, f"spec.hosts[{index}]", host, bool(spec.gateways) and not_mesh and sni)
    if not (spec.http or spec.tcp or spec.tls):
        found.error("spec", "http, tcp or tls must be provided in virtual service")
    for index, http in enumerate(spec.http):
        _http_route(found, f"spec.http[{index}]", http, is_delegate)
    for index, tcp in enumerate(spec.tcp):
        path = f"spec.tcp[{index}]"
        for m_index, l4 in enumerate(tcp.match):
            m_path = f"{path}.match[{m_index}]"
            _subnets(found, m_path, l4.destination_subnets, l4.source_subnet)
            if l4.port is not None:
                found.port(f"{m_path}.port", l4.port)
        _route_destinations(found, f"{path}.route", tcp.route, "TCP")
    for index, tls in enumerate(spec.tls):
        path = f"spec.tls[{index}]"
        if not tls.match:
            found.error(f"{path}.match", "TLS route must have at least one match condition")
        for m_index, tls_match in enumerate(tls.match):
            m_path = f"{path}.match[{m_index}]"
            if not tls_match.sni_hosts:
                found.error(f"{m_path}.sniHosts", "TLS match must have at least one SNI host")
            for s_index, sni_host in enumerate(tls_match.sni_hosts):
                _host(found, f"{m_path}.sniHosts[{s_index}]", sni_host, not_mesh)
            _subnets(found, m_path, tls_match.destination_subnets, None)
        _route_destinations(found, f"{path}.route", tls.route, "TLS")
    return found.problems


def _host(found: Findings, path: str, host: str, auto_sni: bool) -> None:
    if auto_sni and host.startswith("outbound_"):
        found.add(path, auto_sni_problem(host))
    else:
        found.host(path, host)


def _subnets(found: Findings, path: str, destination: tuple[str, ...], source: str | None) -> None:
    for index, subnet in enumerate(destination):
        found.add(f"{path}.destinationSubnets[{index}]", cidr_problem(subnet))
    if source is not None:
        found.add(f"{path}.sourceSubnet", cidr_problem(source))


def _destination(found: Findings, path: str, destination: Destination | None) -> None:
    if destination is None:
        found.error(path, "destination is required")
        return
    found.host(f"{path}.host", destination.host, allow_star=False)
    if destination.subset is not None:
        found.subset_name(f"{path}.subset", destination.subset)
    if destination.port is not None:
        found.port(f"{path}.port.number", destination.port.number)


def _route_destinations(
    found: Findings, path: str, routes: tuple[RouteDestination, ...], kind: str
) -> None:
    if not routes:
        found.error(path, f"{kind} route is required")
    for index, route in enumerate(routes):
        _destination(found, f"{path}[{index}].destination", route.destination)
    found.weights(path, [r.weight for r in routes])


def _string_match(found: Findings, path: str, match: StringMatch | None) -> None:
    if match is not None:
        found.string_match(path, match.exact, match.prefix, match.regex)


def _http_match(found: Findings, path: str, match: HTTPMatchRequest) -> None:
    for name in ("uri", "scheme", "method", "authority"):
        _string_match(found, f"{path}.{name}", getattr(match, name))
    for field in ("headers", "queryParams", "withoutHeaders"):
        attribute = "query_params" if field == "queryParams" else field
        attribute = "without_headers" if field == "withoutHeaders" else attribute
        for key, value in getattr(match, attribute).items():
            key_path = join_path(f"{path}.{field}", key)
            if field == "headers" and key == "":
                found.error(key_path, "header name must not be empty")
            if value.exact is None and value.prefix is None and value.regex is None:
                continue  # an empty match means "header present"
            if field == "withoutHeaders" and value.regex == "*":
                continue  # Istio: not a regex, translated as a present match
            _string_match(found, key_path, value)
    if match.port is not None:
        found.port(f"{path}.port", match.port)
    found.labels(f"{path}.sourceLabels", match.source_labels)


def _route_conflicts(found: Findings, path: str, http: HTTPRoute, in_delegate: bool) -> None:
    """Istio's validateHTTPRouteConflict: a root route (one that delegates) holds no route nor
    redirect; otherwise a redirect or a direct response excludes routes, faults and rewrites,
    and a route needs one of route, redirect, direct response."""
    if http.delegate is not None and not in_delegate:
        name = http.name or ""
        if http.redirect is not None:
            found.error(path, f"root HTTP route {name} must not specify redirect")
        if http.route:
            found.error(path, f"root HTTP route {name} must not specify route")
        return
    if in_delegate and http.delegate is not None:
        found.error(f"{path}.delegate", "delegate HTTP route cannot contain delegate")
    both = "HTTP route cannot contain both"
    if http.redirect is not None:
        for present, message in (
            (bool(http.route), f"{both} route and redirect"),
            (http.fault is not None, f"{both} fault and redirect"),
            (http.rewrite is not None, "HTTP route rule cannot contain both rewrite and redirect"),
            (
                http.direct_response is not None,
                "HTTP route rule cannot contain both direct_response and redirect",
            ),
        ):
            if present:
                found.error(path, message)
    elif http.direct_response is not None:
        for present, message in (
            (bool(http.route), f"{both} route and direct_response"),
            (http.fault is not None, f"{both} fault and direct_response"),
            (
                http.rewrite is not None,
                "HTTP route rule cannot contain both rewrite and direct_response",
            ),
        ):
            if present:
                found.error(path, message)
    elif not http.route:
        found.error(path, "HTTP route, redirect or direct_response is required")


def _http_route(found: Findings, path: str, http: HTTPRoute, in_delegate: bool) -> None:
    for index, match in enumerate(http.match):
        _http_match(found, f"{path}.match[{index}]", match)
    _route_conflicts(found, path, http, in_delegate)
    if http.route:
        for index, route in enumerate(http.route):
            _destination(found, f"{path}.route[{index}].destination", route.destination)
        found.weights(f"{path}.route", [r.weight for r in http.route])
    _http_options(found, path, http)


def _fault_percent(found: Findings, path: str, percent: Percent | None) -> None:
    """Istio's validatePercentage: 0, or from 0.0001 to 100."""
    value = None if percent is None else percent.value
    if value is not None and (not 0.0 <= value <= 100.0 or 0.0 < value < 0.0001):
        found.error(path, f"percentage {value} is neither 0.0, nor in range [0.0001, 100.0]")


def http_retry(found: Findings, path: str, retries: HTTPRetry) -> None:
    """Istio's ValidateHTTPRetry on the typed fields (the webhook's rules on the written ones
    are `webhook_http_actions.retries_problems`): a VirtualService route's, and MeshConfig's
    default policies (`config.mesh_retry`)."""
    if retries.attempts is not None and retries.attempts < 0:
        found.error(f"{path}.attempts", "attempts cannot be negative")
    found.duration(f"{path}.perTryTimeout", retries.per_try_timeout)
    found.duration(f"{path}.backoff", retries.backoff)


def _fault(found: Findings, path: str, http: HTTPRoute) -> None:
    """Istio's validateHTTPFaultInjection: an abort or a delay; an abort's status in 200-600 (a
    warning when it has no kind, HTTP/2 errors unsupported); a delay's duration (exponential
    delays unsupported)."""
    fault = http.fault
    if fault is None:
        return
    if fault.abort is None and fault.delay is None:
        found.error(path, "HTTP fault injection must have an abort and/or a delay")
    if fault.abort is not None:
        abort, a_path = fault.abort, f"{path}.abort"
        _fault_percent(found, f"{a_path}.percentage.value", abort.percentage)
        status = abort.http_status
        if status is not None and not 200 <= status <= 600:
            found.error(f"{a_path}.httpStatus", f"HTTP status {status} is not in range 200-599")
        if status is None and abort.grpc_status is None and abort.http2_error is None:
            found.warn(a_path, "abort configured, but error type not set")
    if fault.delay is not None:
        delay, d_path = fault.delay, f"{path}.delay"
        _fault_percent(found, f"{d_path}.percentage.value", delay.percentage)
        found.duration(f"{d_path}.fixedDelay", delay.fixed_delay)
        found.duration(f"{d_path}.exponentialDelay", delay.exponential_delay)
        if delay.fixed_delay is None and delay.exponential_delay is not None:
            found.error(f"{d_path}.exponentialDelay", "exponentialDelay not supported yet")


def _http_options(found: Findings, path: str, http: HTTPRoute) -> None:
    found.duration(f"{path}.timeout", http.timeout)
    redirect = http.redirect
    if redirect is not None and redirect.port is not None and redirect.derive_port is not None:
        found.error(f"{path}.redirect", "only one of port and derivePort may be set")
    if http.direct_response is not None:
        status = http.direct_response.status or 0
        if not 200 <= status <= 600:  # Istio's validateHTTPStatus
            found.error(
                f"{path}.directResponse.status", f"HTTP status {status} is not in range 200-599"
            )
    if http.retries is not None:
        http_retry(found, f"{path}.retries", http.retries)
    if http.fault is not None:
        _fault(found, f"{path}.fault", http)
    if http.mirror is not None:
        _destination(found, f"{path}.mirror", http.mirror)
    if http.mirror_percent is not None:
        if http.mirror_percent > 100:
            found.error(
                f"{path}.mirrorPercent",
                f"mirror_percent must have a max value of 100 (it has {http.mirror_percent})",
            )
        found.warn(
            f"{path}.mirrorPercent",
            'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
        )
    if http.mirror_percentage is not None:
        found.percent(f"{path}.mirrorPercentage.value", http.mirror_percentage.value)
    for index, mirror in enumerate(http.mirrors):
        _destination(found, f"{path}.mirrors[{index}].destination", mirror.destination)
        if mirror.percentage is not None:
            found.percent(f"{path}.mirrors[{index}].percentage.value", mirror.percentage.value)
    if http.cors_policy is not None:
        found.duration(f"{path}.corsPolicy.maxAge", http.cors_policy.max_age)
        for index, origin in enumerate(http.cors_policy.allow_origins):
            _string_match(found, f"{path}.corsPolicy.allowOrigins[{index}]", origin)
    if http.rewrite is not None and http.rewrite.uri_regex_rewrite is not None:
        rewrite = http.rewrite.uri_regex_rewrite
        if rewrite.match is not None:
            found.add(f"{path}.rewrite.uriRegexRewrite.match", regex_problem(rewrite.match))
        if http.rewrite.uri is not None:
            found.error(f"{path}.rewrite", "only one of uri and uriRegexRewrite may be set")
