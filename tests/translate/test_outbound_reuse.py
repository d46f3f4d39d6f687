"""The outbound block across push contexts (`translate.outbound`, `translate.carry`): a change
that leaves the registry and the rules alone (a VirtualService) keeps the very same block; a
change of instances only derives the new block from the last one, rebuilding the clusters and
assignments of the services whose instances moved and nothing else; either way the block is
what translating from scratch gives."""

from __future__ import annotations

import sys
from pathlib import Path

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json
from pilotfish.model.push_context import PushContext
from pilotfish.translate.outbound import OutboundBlock, outbound_block
from pilotfish.type_urls import CLUSTER, ENDPOINT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scale_mesh import Topology


def _bytes(block: OutboundBlock) -> dict[str, dict[str, bytes]]:
    return {
        t: {n: m.SerializeToString(deterministic=True) for n, m in block.resources[t].items()}
        for t in (CLUSTER, ENDPOINT)
    }


def _fresh(push: PushContext) -> OutboundBlock:
    """The same push context's block translated with nothing carried over."""
    alone = PushContext(push.registry, push.configs, push.mesh)
    return outbound_block("ns-0", alone)


def test_a_virtual_service_keeps_the_block_and_a_scaled_workload_rebuilds_one_service(
    tmp_path: Path,
) -> None:
    topo = Topology(40, 80)
    cp = ControlPlane(tmp_path)
    cp.load_state()
    assert cp.apply([("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml())]).ok
    cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
    first = outbound_block("ns-0", cp.push)

    ns, svc = topo.names[5]
    assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 70))]).ok
    assert outbound_block("ns-0", cp.push) is first

    host = f"{svc}.{ns}.svc.cluster.local"
    for step, scaled in enumerate(((ns, svc, "v1"), None)):
        before = outbound_block("ns-0", cp.push)
        cp.set_instances([instance_from_json(i.row()) for i in topo.instances(scaled=scaled)])
        after = outbound_block("ns-0", cp.push)
        assert after.specs is before.specs
        for type_url in (CLUSTER, ENDPOINT):
            assert list(after.resources[type_url]) == list(before.resources[type_url])
            rebuilt = {
                name
                for name, message in after.resources[type_url].items()
                if message is not before.resources[type_url][name]
            }
            if type_url == ENDPOINT:  # the scaled service's assignments, and only those
                assert rebuilt == {f"outbound|8080|{s}|{host}" for s in ("", "v1", "v2")}, step
            else:
                assert rebuilt == set(), step
        assert _bytes(after) == _bytes(_fresh(cp.push)), step
