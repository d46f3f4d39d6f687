"""A change whose translation raises (a bug in pilotfish, not in the user's YAML) is refused
whole: `apply` reports the error, nothing is written to the store, and every proxy keeps the
snapshot of the last good config, which the next good change builds on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.translate.generate import generate_parts, with_new_routes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Topology

GENERATOR = "pilotfish.controlplane.generations.generate_parts"
# what a VirtualService change calls
ROUTES_ONLY = "pilotfish.controlplane.generations.with_new_routes"


def _control_plane(tmp_path: Path) -> tuple[ControlPlane, Topology, str]:
    topo = Topology(4, 4)
    cp = ControlPlane(tmp_path)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.connected = lambda: list(cp.proxies)
    instances = topo.instances()
    cp.set_instances([instance_from_json(i.row()) for i in instances])
    for instance in instances:
        assert cp.snapshot_for_node(instance.node_id, instance.metadata(9000)) is not None
    return cp, topo, instances[0].node_id


def test_a_translation_crash_is_refused_and_the_last_good_config_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp, topo, node_id = _control_plane(tmp_path)
    ns, svc = topo.names[0]
    assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 90))]).ok
    good_snapshot, good_store = cp.snapshots[node_id], cp.store.read_text()
    good_names = sorted(o.meta.name for o in cp.push.kind("VirtualService"))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(GENERATOR, broken)
    monkeypatch.setattr(ROUTES_ONLY, broken)
    result = cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 10))])
    assert not result.ok
    assert any("internal error" in str(d) and "boom" in str(d) for d in result.diagnostics)
    assert cp.store.read_text() == good_store  # nothing written
    assert cp.snapshots[node_id] is good_snapshot
    assert sorted(o.meta.name for o in cp.push.kind("VirtualService")) == good_names

    monkeypatch.setattr(GENERATOR, generate_parts)  # the next good change builds on it
    monkeypatch.setattr(ROUTES_ONLY, with_new_routes)
    assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 30))]).ok
    assert cp.store.read_text() != good_store
    assert cp.snapshots[node_id] != good_snapshot
