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


@pytest.mark.parametrize(
    ("value", "unconvertible"),
    [
        ("string(destination.port)", False),
        ("request.host", False),
        # a literal that spells a call is taken for one (the tag then keeps its default)
        ("'string(' + request.host", True),
        ("string(a) + string(b)", True),
        ("'v' + string(destination.port)", True),
        ("request.headers['x-string'] == 'a' ? 'a' : 'b'", False),
        ("xds.node.metadata.tostring(a)", False),
    ],
)
def test_a_string_call_inside_a_larger_value_is_found(value: str, unconvertible: bool) -> None:
    from pilotfish.telemetry.metrics import unconvertible_cel

    assert unconvertible_cel(value) is unconvertible


def test_such_an_override_is_left_out_and_apply_says_so() -> None:
    from tests.translate.translate_harness import bookinfo_push, sidecar_for

    from pilotfish.config import load
    from pilotfish.config.mesh_telemetry import MeshTelemetry
    from pilotfish.telemetry.policy import metrics_policy
    from pilotfish.telemetry.provider_notes import provider_notes

    telemetry = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tags, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        destination_port: {value: "'port-' + string(destination.port)"}
        request_host: {value: request.host}
"""
    push = bookinfo_push(telemetry)
    policy = metrics_policy(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assert [o.tag for o in policy.overrides] == ["request_host"]
    notes = provider_notes(load(telemetry, "t.yaml").objects, MeshTelemetry())
    assert [(d.path, d.level) for d in notes] == [
        ("spec.metrics[0].overrides[0].tagOverrides.destination_port.value", "warning")
    ]
    assert "keeps its default value" in notes[0].message
