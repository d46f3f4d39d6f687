"""Istio's `upstream_peer` / `downstream_peer` tagOverrides values (`peer_attributes`)."""

from __future__ import annotations

import pytest

from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.peer_attributes import PEER_REF, peer_reference

CLIENT, SERVER = Reporter.SOURCE, Reporter.DESTINATION


@pytest.mark.parametrize(
    ("value", "reporter", "tag"),
    [
        ("upstream_peer.labels['app'].value", CLIENT, PEER_REF + "destination_app"),
        ("downstream_peer.labels['app'].value", SERVER, PEER_REF + "source_app"),
        ('upstream_peer.labels["version"]', CLIENT, PEER_REF + "destination_version"),
        ("downstream_peer.workload", SERVER, PEER_REF + "source_workload"),
        ("upstream_peer.namespace", CLIENT, PEER_REF + "destination_workload_namespace"),
        ("upstream_peer.service", CLIENT, PEER_REF + "destination_canonical_service"),
        (
            "downstream_peer.labels['service.istio.io/canonical-revision'].value",
            SERVER,
            PEER_REF + "source_canonical_revision",
        ),
        # no such peer on that side: Istio's unknown
        ("upstream_peer.labels['app'].value", SERVER, "unknown"),
        ("downstream_peer.app", CLIENT, "unknown"),
        # not one peer field: CEL, as written
        ("upstream_peer.labels['team'].value", CLIENT, None),
        ("upstream_peer.app + 'x'", CLIENT, None),
        ("request.host", CLIENT, None),
    ],
)
def test_a_peer_field_is_read_from_the_learned_peer(
    value: str, reporter: Reporter, tag: str | None
) -> None:
    assert peer_reference(value, reporter) == tag
