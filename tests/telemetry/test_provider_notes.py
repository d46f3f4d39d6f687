"""`apply`'s warnings for Telemetry providers the mesh cannot serve (`provider_notes`)."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.mesh_telemetry import MeshTelemetry, Provider
from pilotfish.telemetry.provider_notes import provider_notes

MESH = MeshTelemetry(
    providers=(
        Provider("otel", "envoyOtelAls"),
        Provider("file", "envoyFileAccessLog"),
        Provider("zipkin", "zipkin", service="zipkin.istio-system", port=9411),
        Provider("sky", "skywalking"),
        Provider("sd", "stackdriver"),
    )
)
TELEMETRY = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: ns}
spec:
  accessLogging: [{providers: [{name: envoy}, {name: file}, {name: otel}]}]
  tracing: [{providers: [{name: zipkin}]}, {providers: [{name: sky}]}]
  metrics: [{providers: [{name: prometheus}, {name: sd}, {name: none}]}]
"""


def test_each_unserved_provider_is_named_with_its_field_and_what_is_lost() -> None:
    objects = load(TELEMETRY, "t.yaml").objects
    said = [(d.path, d.message) for d in provider_notes(objects, MESH)]
    assert said == [
        (
            "spec.accessLogging[0].providers[2].name",
            'provider "otel" is an extension provider of type envoyOtelAls, which this version '
            "does not implement: nothing is logged for it",
        ),
        (
            "spec.tracing[1].providers[0].name",
            'provider "sky" is an extension provider of type skywalking, which this version '
            "does not implement: no span is sent for it",
        ),
        (
            "spec.metrics[0].providers[1].name",
            'provider "sd" is an extension provider of type stackdriver, which this version '
            "does not implement: no metric is exported for it",
        ),
        (
            "spec.metrics[0].providers[2].name",
            'provider "none" is defined by no extensionProviders entry of the mesh config: no '
            "metric is exported for it",
        ),
    ]
    assert {d.name for d in provider_notes(objects, MESH)} == {"ns/t"}
