"""Small builders for Envoy protobuf pieces every translator uses (no policy in here).

ADS config sources, socket addresses, durations, `Any` packing of typed filter configs, the
router filter. Durations accept Istio's strings (`1.5s`, `100ms`, `1m`, `2h`) or `timedelta`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

if TYPE_CHECKING:
    from pilotfish.config.models.networking import Percent

ROUTER_FILTER = "envoy.filters.http.router"
HCM_FILTER = "envoy.filters.network.http_connection_manager"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


def seconds_of(value: object) -> float | None:
    """Seconds in an Istio duration (string like `1.5s`/`1m30s`, timedelta, number); None if bad."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return None


def duration(seconds: float) -> duration_pb2.Duration:
    nanos_total = round(seconds * 1e9)
    return duration_pb2.Duration(seconds=nanos_total // 10**9, nanos=nanos_total % 10**9)


def duration_of(value: object) -> duration_pb2.Duration | None:
    seconds = seconds_of(value)
    return None if seconds is None else duration(seconds)


def ads_config_source() -> config_source_pb2.ConfigSource:
    """RDS/EDS over the bootstrap's ADS stream, v3, no initial fetch timeout (like Istio)."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
        initial_fetch_timeout=duration(0),
    )


def socket_address(ip: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(
            address=ip, port_value=port, protocol=address_pb2.SocketAddress.TCP
        )
    )


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def router_filter() -> hcm_pb2.HttpFilter:
    return hcm_pb2.HttpFilter(name=ROUTER_FILTER, typed_config=pack(router_pb2.Router()))


def fractional_percent(
    percentage: Percent | None, percent: int | None = None
) -> percent_pb2.FractionalPercent:
    """Istio percentage (double, 0-100) or legacy integer percent; 100% when neither is set."""
    fraction = percent_pb2.FractionalPercent
    if percentage is not None and percentage.value is not None:
        return fraction(numerator=round(percentage.value * 10000), denominator=fraction.MILLION)
    value = 100 if percent is None else percent
    return fraction(numerator=value, denominator=fraction.HUNDRED)
