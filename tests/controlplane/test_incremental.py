"""Incremental translation gives exactly what translating from scratch gives.

The control plane reuses translation units from one push context to the next (`translate.carry`),
shares one outbound block between namespaces (`translate.outbound`) and composes each proxy's
snapshot from shared, already serialised parts. Over a seeded random sequence of changes to the
scale benchmark's mesh (CI-sized: 60 services in 3 namespaces, 60 proxies) — every kind once,
then a few more: VirtualService weights, deletions and sourceLabels matches; DestinationRules
changed, deleted, overriding another namespace's host, with narrow exportTo, wildcards in the
root namespace; workloads scaled and made not ready; the mesh's outbound policy and its
default retry policies; a Sidecar; a
PeerAuthentication; an AuthorizationPolicy, a Telemetry, a gateway-only
VirtualService, one exported to its namespace only, and another namespace's rule for a host a
Sidecar-narrowed namespace sees (changes that `translate.affected` scopes to some proxies); a
ServiceEntry; an EnvoyFilter; a manifest Workload's replicas; a locality load balancing rule
(failover, distribute or failoverPriority, with every proxy in one of three localities, so
proxies of a namespace get different endpoints); a DestinationRule with a `workloadSelector`
(its pods get its subset and balancer, their namespace's other proxies do not), then changed
(only its pods are translated again) (`bench/scope_mesh.py` makes the
changes and the checks) —
every connected proxy's pushed resources must equal a from-scratch generation, message for
message (and diagnostics), and its snapshot must hold exactly those names. Not a timed test.

The same sequence with pilotfish's default on (on-demand clusters and virtual hosts; every
proxy has asked for two services and a host no service has: `bench/scope_mesh_demand.py`):
every proxy's published snapshot must be what a fresh control plane, given the same state and
the same demands at once, publishes for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scope_mesh import KINDS, MESH_RETRIES, Mesh
from scope_mesh_demand import DemandMesh

EXTRA_STEPS = 2


@pytest.mark.timeout(900)  # 22 generations of 60 proxies, twice each, on a loaded CI machine
@pytest.mark.parametrize("seed", [3, 7])
def test_incremental_translation_equals_full_regeneration(tmp_path: Path, seed: int) -> None:
    mesh = Mesh(tmp_path, seed)
    mesh.check("initial")
    kinds = mesh.rng.sample(range(KINDS), KINDS)  # every kind of change once, in random order,
    kinds += [mesh.rng.randrange(KINDS) for _ in range(EXTRA_STEPS)]  # then a few more
    for step, choice in enumerate(kinds):
        what = f"step {step}: {mesh.change(choice)}"
        mesh.check(what)
    assert mesh.cp.carry.hits > 0, "nothing was reused: not incremental"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [5])
def test_on_demand_incremental_equals_a_fresh_control_plane(tmp_path: Path, seed: int) -> None:
    mesh = DemandMesh(tmp_path, seed)
    mesh.check("initial")
    kinds = mesh.rng.sample(range(KINDS), KINDS)
    kinds += [mesh.rng.randrange(KINDS) for _ in range(EXTRA_STEPS)]
    for step, choice in enumerate(kinds):
        what = f"step {step}: {mesh.change(choice)}"
        mesh.check(what)
    assert mesh.cp.demanded and mesh.cp.asked_hosts, "nothing was asked for: not on demand"


def test_the_mesh_default_retry_policies_reach_every_route(tmp_path: Path) -> None:
    """MeshConfig's `defaultHttpRetryPolicy` is read by every route that sets no retries (and
    `defaultInboundHttpRetryPolicy` by every inbound route): setting it, flipping the outbound
    policy with it set, and unsetting it must each equal a translation from scratch (a virtual
    host reused from before the change would keep the old policy)."""
    mesh = Mesh(tmp_path, 3)
    mesh.check("initial")
    for mode, retries in (("ALLOW_ANY", True), ("REGISTRY_ONLY", True), ("REGISTRY_ONLY", False)):
        mesh.apply(mesh.topo.mesh_config(mode, MESH_RETRIES if retries else ""))
        mesh.check(f"{mode}, retries {'set' if retries else 'unset'}")
