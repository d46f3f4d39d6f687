"""MeshConfig's `protocolDetectionTimeout`, as Istio reads and applies it: a duration, 0s by
default (no limit) or to millisecond precision; a sidecar's inbound listener (virtualInbound in
a captured pod, one listener a port otherwise) gets it as `listener_filters_timeout` with
`continue_on_listener_filters_timeout`, whether it sniffs HTTP or only tells TLS apart; an
outbound listener that sniffs no HTTP waits without limit (Istio's `listener_builder.go`,
`listener.go`)."""

from __future__ import annotations

import pytest

from pilotfish import config
from pilotfish.registry.manifest import parse_manifest
from pilotfish.translate import captured, listeners, mtls

MESH = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    protocolDetectionTimeout: {value}
"""


def _timeout(value: str) -> tuple[float, list[str]]:
    manifest, problems = parse_manifest(config.load(MESH.format(value=value), "m.yaml").others)
    return manifest.mesh.protocol_detection_timeout, [str(p) for p in problems]


@pytest.mark.parametrize(
    ("value", "seconds"), [("0s", 0.0), ("1s", 1.0), ("100ms", 0.1), ("1.5s", 1.5)]
)
def test_valid_timeouts(value: str, seconds: float) -> None:
    assert _timeout(value) == (seconds, [])


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("soon", "invalid duration 'soon'"),
        ("-1s", "duration must not be negative"),
        ("1500us", "only durations to ms precision are supported"),
    ],
)
def test_invalid_timeouts_name_the_field(value: str, error: str) -> None:
    seconds, problems = _timeout(value)
    assert seconds == 0.0
    assert len(problems) == 1 and "protocolDetectionTimeout" in problems[0], problems
    assert error in problems[0], problems


def test_unset_is_istios_default_no_limit() -> None:
    unset = MESH.format(value="0s").replace("protocolDetectionTimeout: 0s", "trustDomain: td.a")
    manifest, problems = parse_manifest(config.load(unset, "m.yaml").others)
    assert problems == [] and manifest.mesh.trust_domain == "td.a"  # the ConfigMap was read
    assert manifest.mesh.protocol_detection_timeout == 0.0


@pytest.mark.parametrize("sniffed", [True, False])
def test_inbound_listeners_carry_the_timeout(sniffed: bool) -> None:
    chains = listeners.inbound_filter_chains(
        9080, http=False, mode="PERMISSIVE", trust_domain="cluster.local", sniffed=sniffed
    )
    virtual = captured.virtual_inbound_listener([(9080, chains, "PERMISSIVE")], [], "", 1.5)
    explicit = listeners.inbound_listener("10.0.0.1", 9080, chains, "PERMISSIVE", 1.5)
    for listener in (virtual, explicit):
        names = [f.name for f in listener.listener_filters]
        assert mtls.TLS_INSPECTOR in names and (mtls.HTTP_INSPECTOR in names) == sniffed
        assert listener.continue_on_listener_filters_timeout
        assert listener.listener_filters_timeout.ToMilliseconds() == 1500
