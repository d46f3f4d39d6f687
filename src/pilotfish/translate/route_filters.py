"""Per-route configs of the HTTP filters every outbound and gateway connection manager carries:
Istio `HTTPRoute.fault` (delay, abort: HTTP status or gRPC code) for `envoy.filters.http.fault`,
and `corsPolicy` for `envoy.filters.http.cors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from google.protobuf import wrappers_pb2

from pilotfish.config.protocols import GRPC_STATUS_CODES
from pilotfish.translate.envoy_pb import duration_of, fractional_percent, pack, seconds_of
from pilotfish.translate.route_match import string_matcher

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        CorsPolicy,
        HTTPFaultInjection,
        HTTPRoute,
    )

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"


def per_route_filter_configs(route: rc_pb2.Route, http: HTTPRoute) -> None:
    """The route's fault and CORS configs, keyed by filter name, when the HTTPRoute has them."""
    fault = _fault(http.fault)
    if fault is not None:
        route.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(fault))
    cors = _cors(http.cors_policy)
    if cors is not None:
        route.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors))


def _fault(fault: HTTPFaultInjection | None) -> fault_pb2.HTTPFault | None:
    if fault is None or (fault.delay is None and fault.abort is None):
        return None
    result = fault_pb2.HTTPFault()
    delay = fault.delay
    fixed = duration_of(delay.fixed_delay) if delay is not None else None
    if delay is not None and fixed is not None:
        result.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=fixed, percentage=fractional_percent(delay.percentage, delay.percent)
            )
        )
    abort = fault.abort
    if abort is not None and abort.http_status and abort.http_status < 600:
        # Istio's validation lets 600 through; Envoy's FaultAbort refuses it (200 <= s < 600)
        result.abort.CopyFrom(
            fault_pb2.FaultAbort(
                http_status=abort.http_status, percentage=fractional_percent(abort.percentage)
            )
        )
    elif abort is not None and abort.grpc_status:
        result.abort.CopyFrom(
            fault_pb2.FaultAbort(
                grpc_status=_grpc_code(abort.grpc_status),
                percentage=fractional_percent(abort.percentage),
            )
        )
    return result if result.ByteSize() else None


def _grpc_code(name: str) -> int:
    return GRPC_STATUS_CODES.index(name) if name in GRPC_STATUS_CODES else 2


def _cors(policy: CorsPolicy | None) -> cors_pb2.CorsPolicy | None:
    if policy is None:
        return None
    result = cors_pb2.CorsPolicy()
    for origin in policy.allow_origins or ():
        matcher = string_matcher(origin)
        if matcher is not None:
            result.allow_origin_string_match.append(matcher)
    for exact in policy.allow_origin or ():
        result.allow_origin_string_match.add().exact = exact
    if policy.allow_methods:
        result.allow_methods = ",".join(policy.allow_methods)
    if policy.allow_headers:
        result.allow_headers = ",".join(policy.allow_headers)
    if policy.expose_headers:
        result.expose_headers = ",".join(policy.expose_headers)
    max_age = seconds_of(policy.max_age)
    if max_age is not None:
        result.max_age = str(int(max_age))
    if policy.allow_credentials is not None:
        result.allow_credentials.CopyFrom(wrappers_pb2.BoolValue(value=policy.allow_credentials))
    return result
