"""Istio's semantic checks of a VirtualService: hosts, gateways, routes, weights, matches,
regexes, durations, redirects, faults, retries, mirrors and delegation."""

from __future__ import annotations

from pilotfish.config.formats import auto_sni_problem, cidr_problem, regex_problem
from pilotfish.config.models.networking import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
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
        _route_destinations(found, f"{path}.route", tcp.route)
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
        _route_destinations(found, f"{path}.route", tls.route)
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


def _route_destinations(found: Findings, path: str, routes: tuple[RouteDestination, ...]) -> None:
    if not routes:
        found.error(path, "route is required")
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


def _http_route(found: Findings, path: str, http: HTTPRoute, in_delegate: bool) -> None:
    for index, match in enumerate(http.match):
        _http_match(found, f"{path}.match[{index}]", match)
    actions = [
        n
        for n, v in (
            ("route", http.route),
            ("redirect", http.redirect),
            ("directResponse", http.direct_response),
            ("delegate", http.delegate),
        )
        if v
    ]
    if not actions:
        found.error(path, "HTTP route, redirect, direct response or delegate is required")
    elif len(actions) > 1 and actions != ["route", "delegate"]:
        found.error(path, f"only one of {', '.join(actions)} may be set")
    if http.delegate is not None:
        if in_delegate:
            found.error(f"{path}.delegate", "a delegate VirtualService cannot delegate again")
        if http.route:
            found.error(f"{path}.delegate", "delegate and route are mutually exclusive")
        if not http.delegate.name:
            found.error(f"{path}.delegate.name", "delegate name is required")
    if http.route:
        for index, route in enumerate(http.route):
            _destination(found, f"{path}.route[{index}].destination", route.destination)
        found.weights(f"{path}.route", [r.weight for r in http.route])
    _http_options(found, path, http)


def _http_options(found: Findings, path: str, http: HTTPRoute) -> None:
    found.duration(f"{path}.timeout", http.timeout)
    redirect = http.redirect
    if redirect is not None and redirect.port is not None and redirect.derive_port is not None:
        found.error(f"{path}.redirect", "only one of port and derivePort may be set")
    if http.direct_response is not None:
        status = http.direct_response.status
        if status is None or not 200 <= status <= 599:
            found.error(f"{path}.directResponse.status", f"{status} is not a valid HTTP status")
    if http.retries is not None:
        found.non_negative(f"{path}.retries.attempts", http.retries.attempts)
        found.duration(f"{path}.retries.perTryTimeout", http.retries.per_try_timeout)
        found.duration(f"{path}.retries.backoff", http.retries.backoff)
    if http.fault is not None:
        if http.fault.delay is not None:
            delay, d_path = http.fault.delay, f"{path}.fault.delay"
            found.duration(f"{d_path}.fixedDelay", delay.fixed_delay)
            found.duration(f"{d_path}.exponentialDelay", delay.exponential_delay)
            if delay.percentage is not None:
                found.percent(f"{d_path}.percentage.value", delay.percentage.value)
            if delay.fixed_delay is None and delay.exponential_delay is None:
                found.error(d_path, "delay must set fixedDelay")
        if http.fault.abort is not None:
            abort, a_path = http.fault.abort, f"{path}.fault.abort"
            if abort.percentage is not None:
                found.percent(f"{a_path}.percentage.value", abort.percentage.value)
            status = abort.http_status
            if status is not None and not 200 <= status <= 599:
                found.error(f"{a_path}.httpStatus", f"{status} is not a valid HTTP status")
            if status is None and abort.grpc_status is None and abort.http2_error is None:
                found.error(a_path, "abort must set httpStatus or grpcStatus")
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
    if http.mirror is not None and http.mirrors:
        found.error(f"{path}.mirrors", "only one of mirror and mirrors may be set")
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
