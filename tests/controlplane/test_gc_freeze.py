"""`controlplane.gc_freeze`: what survives a long full collection is frozen, garbage is not,
and what a change replaces is still freed although it was frozen (no reference cycle holds a
push context)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from tests.controlplane.scale_kit import MakeMesh, connect

from pilotfish.controlplane import api as api_module
from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.api import Api
from pilotfish.model.node import DELTA_XDS_KEY
from pilotfish.translate.carry import Carry
from pilotfish.translate.resources import KeptPart
from pilotfish.xds.server import XdsServer


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> _Node:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a


@pytest.fixture
def hook() -> Iterator[gc_freeze.FreezeAfterLongCollections]:
    gc.collect()
    gc.unfreeze()
    hook = gc_freeze.install(threshold_s=0.0)  # every full collection counts as long
    try:
        yield hook
    finally:
        gc_freeze.uninstall(hook)
        gc.unfreeze()


def test_a_long_collection_freezes_what_survives_it_and_frees_garbage(
    hook: gc_freeze.FreezeAfterLongCollections,
) -> None:
    live = _cycle()
    dead = weakref.ref(_cycle())  # unreachable at once: only the collector frees it
    assert dead() is not None
    gc.collect()
    assert dead() is None
    assert hook.freezes >= 1 and gc.get_freeze_count() > 0
    assert not any(o is live for o in gc.get_objects())  # frozen: walked no more
    assert gc_freeze.install() is hook  # once per process


def test_a_short_collection_freezes_nothing() -> None:
    gc.collect()
    gc.unfreeze()
    hook = gc_freeze.install(threshold_s=60.0)
    try:
        gc.collect()
        assert hook.freezes == 0 and gc.get_freeze_count() == 0
    finally:
        gc_freeze.uninstall(hook)


def test_a_replaced_push_context_is_freed_although_frozen(
    on_demand_mesh: MakeMesh, hook: gc_freeze.FreezeAfterLongCollections
) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    for instance in instances:
        connect(cp, instance)
    gc.collect()  # freezes every push context, part and snapshot alive now
    assert hook.freezes >= 1
    before = weakref.ref(cp.push)
    gc.disable()  # reference counting alone from here
    try:
        ns, svc = topo.names[0]
        assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 70))]).ok
        assert cp.apply([("mesh.yaml", topo.mesh_config("REGISTRY_ONLY"))]).ok
        assert before() is None, "a frozen push context outlived its change: a cycle holds it"
    finally:
        gc.enable()


def test_release_idle_frees_what_a_change_replaced_and_collects_unless_a_change_runs(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, topo, instances = on_demand_mesh(routes=True)
    for instance in instances[:4]:
        connect(cp, instance)
    ns, svc = topo.names[0]

    async def held() -> tuple[bool, tuple[bool, bool]]:
        replaced = weakref.ref(cp.parsed)  # the parsed config only the retired state holds
        assert cp.apply([("vs.yaml", topo.virtual_service(ns, svc, 70))]).ok
        garbage = weakref.ref(_cycle())  # only a collection frees it
        async with cp.lock:  # a change under way: its own start releases; nothing now
            cp.release_idle()
            during = replaced() is not None and garbage() is not None
        cp.release_idle()
        return during, (replaced() is None, garbage() is None)

    during, after = asyncio.run(held())
    assert during, "release_idle freed or collected while a change held the lock"
    assert after == (True, True), f"left (the replaced parsed config, a garbage cycle): {after}"


def test_a_change_through_the_api_pauses_collections_until_its_idle_collection(
    on_demand_mesh: MakeMesh,
) -> None:
    """`gc_freeze.pause`: no automatic collection from a change's start through its pushes
    (one landing there promoted, or walked, what the change keeps); the idle collection
    (`release_idle`) frees its garbage and turns them on again; a change that comes before
    that collects first."""
    cp, topo, instances = on_demand_mesh(routes=True)
    for instance in instances[:4]:
        connect(cp, instance)
    ns, svc = topo.names[0]
    api = Api(cp, XdsServer(cp.snapshot_for_node), CollectorRegistry())

    async def apply(weight: int) -> None:
        async with TestClient(TestServer(api.app())) as client:
            files = [["vs.yaml", topo.virtual_service(ns, svc, weight)]]
            response = await client.post("/api/v1/apply", json={"files": files, "wait": False})
            assert response.status == 200, await response.text()

    async def run() -> list[object]:
        seen: list[object] = [gc.isenabled()]
        await apply(70)
        garbage = weakref.ref(_cycle())
        for _ in range(3):  # far past every threshold: automatic collections would free it
            [[] for _ in range(50_000)]
        seen += [gc_freeze.paused(), gc.isenabled(), garbage() is not None]
        await apply(71)  # before the idle collection: it collects first
        seen.append(garbage() is None)
        cp.release_idle()
        seen += [gc_freeze.paused(), gc.isenabled()]
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        gc_freeze.resume()
    assert seen == [True, True, False, True, True, False, True], seen


def test_the_idle_collection_waits_for_the_acks_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gc_freeze.when_out`: the idle collection once no proxy is left to ACK the change (it
    stalls the event loop 0.2-0.5 s after a mesh-wide change), or after its tries."""
    monkeypatch.setattr(gc_freeze, "WAIT_STEP_S", 0.01)

    async def run(acks: list[int], tries: int) -> tuple[int, int]:
        done = asyncio.Event()
        looks = len(acks)
        gc_freeze.when_out(lambda: acks.pop(0) if acks else 0, done.set, tries)
        await asyncio.wait_for(done.wait(), 5)
        return looks - len(acks), len(acks)

    assert asyncio.run(run([3, 1, 0], 8)) == (3, 0)  # ran at the third look, when all ACKed
    assert asyncio.run(run([5, 5, 5, 5], 2)) == (3, 1)  # waited no longer than its tries


def test_a_kept_part_the_carry_drops_is_freed_without_a_collection(
    on_demand_mesh: MakeMesh, hook: gc_freeze.FreezeAfterLongCollections
) -> None:
    """What an on-demand sidecar is sent of its outbound block (`KeptPart`, with its check
    and snapshot) outlives push contexts as a lasting carry unit; once dropped it must go by
    reference counting alone: what is frozen in a cycle stays for the process's life (one
    DestinationRule change after another, the RSS grew without end)."""
    cp, topo, instances = on_demand_mesh(routes=True)
    names = topo.names
    for n, instance in enumerate(instances):  # as bench/scale.py's sidecars: two services each
        connect(cp, instance)
        called = [names[(n + k) % len(names)] for k in (1, 7)]
        cp.demand(instance.node_id, tuple(topo.cluster(names.index(c)) for c in called))
        cp.demand_hosts(instance.node_id, tuple(f"http_proxy/{s}.{ns}:8080" for ns, s in called))
    gc.unfreeze()  # every object visible again

    def kept_parts() -> dict[int, KeptPart]:
        return {id(o): o for o in gc.get_objects() if isinstance(o, KeptPart)}

    before = kept_parts()
    assert cp.apply([("dr.yaml", topo.pooled_rules(100))]).ok
    gc.unfreeze()
    kept = [weakref.ref(o) for key, o in kept_parts().items() if key not in before]
    del before
    assert kept, "the change kept no part to follow"
    gc.collect()  # freezes them with everything alive
    assert hook.freezes >= 1 and gc.get_freeze_count() > 0
    gc.disable()  # reference counting alone from here
    try:
        for pending in range(101, 101 + 3 * Carry.LASTING_PUSHES):  # past the lasting window
            assert cp.apply([("dr.yaml", topo.pooled_rules(pending))]).ok
        alive = sum(ref() is not None for ref in kept)
        assert alive == 0, f"{alive} of {len(kept)} kept parts outlived the carry: a cycle"
    finally:
        gc.enable()


def test_a_connect_burst_holds_collections_off_until_one_idle_collection(
    on_demand_mesh: MakeMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gc_freeze.quiet_while` (the xDS server's generator in the control plane): the first
    proxy of a burst pauses automatic collections (its objects nearly all survive: each was
    walked three times before it was frozen), the others find them paused, and one idle
    collection (`Api.release_later`, scheduled once on the loop) frees the burst's garbage
    and turns them on again."""
    monkeypatch.setattr(api_module, "RELEASE_AFTER_S", 0.01)
    cp, _, instances = on_demand_mesh(routes=True)
    api = Api(cp, XdsServer(cp.snapshot_for_node), CollectorRegistry())
    scheduled = asyncio.Event()
    calls: list[bool] = []

    def release_later() -> None:  # the release, held back until the burst is checked
        calls.append(gc.isenabled())
        scheduled.set()

    async def run() -> list[object]:
        generate = gc_freeze.quiet_while(
            cp.snapshot_for_node, asyncio.get_running_loop(), release_later
        )
        seen: list[object] = [gc.isenabled()]
        garbage = None
        for instance in instances[:4]:  # in a thread, as the xDS server's generation thread
            metadata = instance.metadata(9000) | {DELTA_XDS_KEY: "true"}
            assert await asyncio.to_thread(generate, instance.node_id, metadata) is not None
            garbage = garbage or weakref.ref(_cycle())
            [[] for _ in range(50_000)]  # far past every threshold
        assert garbage is not None
        await asyncio.wait_for(scheduled.wait(), 5)
        seen += [gc_freeze.paused(), gc.isenabled(), garbage() is not None, calls]
        api.release_later()
        for _ in range(250):
            if gc.isenabled():
                break
            await asyncio.sleep(0.02)
        seen += [gc.isenabled(), garbage() is None]
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        gc_freeze.resume()
    assert seen == [True, True, False, True, [False], True, True], seen
