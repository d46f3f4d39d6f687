"""On-demand CDS over ADS, as Envoy 1.40 sends it (measured, README "On-demand clusters"): on a
delta stream whose CDS is wildcard, Envoy subscribes a missing cluster by its plain name (no
`*`); on reconnect it sends `*` with those names. The stream reports them as on-demand names
(the server has the control plane add them before answering), answers them once the snapshot
has them, and says at once when one does not exist (`removed_resources`), so Envoy does not
hold the request for its whole timeout. State of the world reports none (its reconnect sends
the names without `*`: a server cannot tell them from a named subscription)."""

from __future__ import annotations

from tests.xds.xds_testlib import BACKEND, LISTEN, delta_request, mesh_snapshot, sotw_request

from pilotfish.xds.messages import DeltaResponse
from pilotfish.xds.resources import CLUSTER, ENDPOINT, Snapshot
from pilotfish.xds.stream import DeltaStream, SotwStream


def _wildcard_cds(snapshot: Snapshot) -> DeltaStream:
    stream = DeltaStream()
    first = stream.on_request(delta_request(CLUSTER, node_id="n"), snapshot, 0.0)
    response = first.responses[0]
    assert isinstance(response, DeltaResponse)
    stream.on_request(delta_request(CLUSTER, nonce=response.nonce), snapshot, 0.1)
    return stream


def test_named_on_top_of_wildcard_cds_is_on_demand() -> None:
    small = mesh_snapshot(LISTEN, BACKEND, clusters=1)
    stream = _wildcard_cds(small)
    request = delta_request(CLUSTER, ["backend-1"])
    assert stream.on_demand_names(request) == ("backend-1",)
    assert stream.on_demand_names(delta_request(ENDPOINT, ["backend-1"])) == ()

    grown = mesh_snapshot(LISTEN, BACKEND, clusters=2)  # the control plane added it
    response = stream.on_request(request, grown, 1.0).responses[0]
    assert isinstance(response, DeltaResponse)
    assert response.resource_names == ("backend-1",) and response.removed == ()


def test_a_cluster_that_does_not_exist_is_reported_removed_at_once() -> None:
    snapshot = mesh_snapshot(LISTEN, BACKEND, clusters=1)
    stream = _wildcard_cds(snapshot)
    output = stream.on_request(delta_request(CLUSTER, ["nowhere"]), snapshot, 1.0)
    response = output.responses[0]
    assert isinstance(response, DeltaResponse)
    assert response.removed == ("nowhere",) and response.resource_names == ()


def test_reconnect_sends_the_wildcard_with_the_names() -> None:
    stream = DeltaStream()
    request = delta_request(CLUSTER, ["*", "backend-1"], node_id="n")
    assert stream.on_demand_names(request) == ("backend-1",)
    named_only = DeltaStream()  # a client subscribing CDS by name only: not on demand
    assert named_only.on_demand_names(delta_request(CLUSTER, ["backend"], node_id="n")) == ()


def test_state_of_the_world_has_no_on_demand_names() -> None:
    stream = SotwStream()
    assert stream.on_demand_names(sotw_request(CLUSTER, ["backend-1"], node_id="n")) == ()
