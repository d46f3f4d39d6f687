"""Instance lists read again keep what did not change (`controlplane.instances.InstanceRows`):
a row equal to the last list's row of that name is the very same instance, any other row is
read again, a malformed list changes nothing; the instances file written from kept lines holds
every row as a fresh encoding would; and an endpoint change read this way still reaches the
sidecar that holds the service it moved (and only it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.controlplane.scale_kit import MakeMesh, connect

from pilotfish.controlplane.instances import (
    InstanceRows,
    instance_to_json,
    read_instances,
    write_instances,
)
from pilotfish.type_urls import ENDPOINT


def _row(name: str, address: str, **extra: object) -> dict[str, object]:
    return {"name": name, "workload": "w", "namespace": "ns", "address": address} | extra


def test_an_unchanged_row_is_the_same_instance_and_a_changed_one_is_read_again() -> None:
    rows = InstanceRows()
    first = rows.read([_row("a", "127.0.0.1"), _row("b", "127.0.0.2")])
    again = rows.read([_row("a", "127.0.0.1"), _row("b", "127.0.0.2", ready=False)])
    assert again[0] is first[0]
    assert again[1] is not first[1] and again[1].ready is False and first[1].ready is True
    renamed = rows.read([_row("a", "127.0.0.9")])  # same name, another address
    assert renamed[0].address == "127.0.0.9" and renamed[0] is not again[0]


def test_a_malformed_list_keeps_the_last_rows() -> None:
    rows = InstanceRows()
    first = rows.read([_row("a", "127.0.0.1")])
    with pytest.raises(KeyError):
        rows.read([_row("a", "127.0.0.1"), {"name": "b"}])  # no address
    assert rows.read([_row("a", "127.0.0.1")])[0] is first[0]
    numbered = rows.read([{"name": 7, "workload": "w", "address": "127.0.0.3"}])
    assert numbered[0].name == "7"  # a name that is no string is read as before, not kept


def test_the_instances_file_written_from_kept_lines_holds_every_row(tmp_path: Path) -> None:
    rows = InstanceRows()
    path = tmp_path / "instances.json"
    listed = [_row("a", "127.0.0.1"), _row("b", "127.0.0.2"), _row("c", "127.0.0.3")]
    write_instances(path, tuple(rows.read(listed)))
    changed = rows.read([listed[0], _row("b", "127.0.0.2", ready=False), listed[0]])
    write_instances(path, tuple(changed))  # one kept twice, one read again, one gone
    assert json.loads(path.read_text()) == [instance_to_json(i) for i in changed]
    assert read_instances(path) == tuple(changed)


def test_an_endpoint_change_read_from_rows_reaches_the_sidecar_holding_the_service(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, topo, instances = on_demand_mesh()
    client, bystander = instances[0], instances[1]
    for proxy in (client, bystander):
        connect(cp, proxy)
    ns, svc = topo.names[1]
    host = f"{svc}.{ns}.svc.cluster.local"
    cp.demand(client.node_id, (f"outbound|8080|v1|{host}",))
    rows = InstanceRows()
    assert not cp.set_instances(rows.read([i.row() for i in topo.instances()]))  # the same
    scaled = [i.row() for i in topo.instances(scaled=(ns, svc, "v1"))]
    changed = cp.set_instances(rows.read(scaled))
    assert set(changed) == {client.node_id}
    assignment = changed[client.node_id].messages(ENDPOINT)[f"outbound|8080|v1|{host}"]
    addresses = {
        e.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for e in group.lb_endpoints
    }
    wanted = {r["address"] for r in scaled if r["workload"] == f"{svc}-v1"}
    assert addresses == wanted and len(wanted) == topo.replicas()[ns, svc, "v1"] + 1
