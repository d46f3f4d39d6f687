"""Telemetry `tagOverrides` values as Envoy's CEL takes them (`metrics.envoy_cel`)."""

from __future__ import annotations

import pytest

from pilotfish.telemetry.metrics import envoy_cel


@pytest.mark.parametrize(
    ("istio", "envoy"),
    [
        ("string(destination.port)", "destination.port"),  # Istio's "Customizing Istio Metrics"
        (" string( string(response.code) ) ", "response.code"),
        ("request.host", "request.host"),
        (
            "has(request.host) ? request.host : 'unknown'",
            "has(request.host) ? request.host : 'unknown'",
        ),
        # not around the whole expression: left as written (Envoy then refuses it, as it would)
        ("string(a) + string(b)", "string(a) + string(b)"),
        ("string(a) + ')'", "string(a) + ')'"),
    ],
)
def test_a_string_conversion_of_the_whole_value_is_left_to_the_formatter(
    istio: str, envoy: str
) -> None:
    assert envoy_cel(istio) == envoy


def test_the_client_sides_destination_port_is_the_service_port() -> None:
    from pilotfish.telemetry.labels import Reporter
    from pilotfish.telemetry.metrics import CLIENT_DESTINATION_PORT, client_cel

    assert client_cel("destination.port", Reporter.SOURCE) == CLIENT_DESTINATION_PORT
    assert "['port']" in CLIENT_DESTINATION_PORT
    assert client_cel("destination.port", Reporter.DESTINATION) == "destination.port"
    assert client_cel("destination.port + 1", Reporter.SOURCE) == "destination.port + 1"
