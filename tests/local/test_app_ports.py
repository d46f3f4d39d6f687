"""The ports a local mesh gives its sidecars' apps on 127.0.0.1: each mesh its own range, below
the kernel's ephemeral ports, never one port to two instances, never one something else uses."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotfish.agent.spec import AgentSpec
from pilotfish.local import app_ports
from pilotfish.local.app_ports import app_port, block_ports, ephemeral_start
from pilotfish.local.network import FIRST_BLOCK, LAST_BLOCK, load_or_choose
from pilotfish.local.specs import SpecContext, wanted_specs
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.mesh_config import MeshSettings
from pilotfish.registry.workloads import WorkloadSpec


def test_blocks_have_disjoint_ranges_below_the_ephemeral_ports() -> None:
    ephemeral = ephemeral_start()
    ranges = [block_ports(b, ephemeral) for b in range(FIRST_BLOCK, LAST_BLOCK + 1)]
    assert all(len(r) == app_ports.PER_BLOCK for r in ranges), "a machine with 32768 or more"
    every = [p for r in ranges for p in r]
    assert len(every) == len(set(every))
    assert min(every) >= app_ports.FLOOR and max(every) < min(ephemeral, 31400)
    assert block_ports(16, 32768) == range(16104, 16168)
    assert block_ports(254, 32768) == range(31336, 31400)
    assert block_ports(254, 20000) == range(19980, 20000)  # 20 a block
    assert not block_ports(254, 16000), "no room: the kernel's choice, with a warning"


def bookinfo_like(replicas: int) -> Manifest:
    def workload(name: str, ports: tuple[int, ...]) -> WorkloadSpec:
        labels = (("app", name),)
        return WorkloadSpec(name, "default", labels, replicas, command=("true",), ports=ports)

    apps = [workload(n, (9080,)) for n in ("productpage", "details", "ratings", "reviews")]
    return Manifest(workloads=(*apps, workload("two-ports", (8080, 9090))))


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[SpecContext]:
    """A block of this test's own, held as a mesh holds it: no running mesh uses its ports."""
    network = load_or_choose(tmp_path)
    app_ports._NEXT.clear()
    yield SpecContext(network, tmp_path, MeshSettings())
    app_ports._NEXT.clear()
    assert network.claim is not None
    network.claim.close()


def real_ports(specs: dict[str, AgentSpec]) -> list[int]:
    return [real for spec in specs.values() for _, real in spec.proxy.app_ports]


def test_every_instance_gets_its_own_port_of_the_meshs_range(ctx: SpecContext) -> None:
    own = block_ports(ctx.network.block, ephemeral_start())
    first = wanted_specs(ctx, bookinfo_like(2), {})
    ports = real_ports(first)
    assert len(ports) == 12 and len(set(ports)) == 12 and all(p in own for p in ports)
    # the running instances keep theirs; a new instance (a scale-up) gets none of them
    second = wanted_specs(ctx, bookinfo_like(3), first)
    for key, spec in first.items():
        assert second[key].proxy.app_ports == spec.proxy.app_ports
    new = [p for p in real_ports(second) if p not in ports]
    assert len(new) == 6 and len(set(real_ports(second))) == 18 and all(p in own for p in new)


def test_a_port_some_socket_uses_is_skipped(ctx: SpecContext) -> None:
    own = block_ports(ctx.network.block, ephemeral_start())
    held = []
    try:
        for port in own[:3]:  # another program listening on one, bound to the others
            sock = socket.socket()
            held.append(sock)
            sock.bind(("127.0.0.1", port))
            if port == own[0]:
                sock.listen()
        assert app_port(ctx.network.block, set()) == own[3]
        assert app_port(ctx.network.block, set()) == own[4], "round robin: the next one"
    finally:
        for sock in held:
            sock.close()


def test_a_full_range_falls_back_to_the_kernel_with_a_warning(
    ctx: SpecContext, caplog: pytest.LogCaptureFixture
) -> None:
    own = block_ports(ctx.network.block, ephemeral_start())
    with caplog.at_level(logging.WARNING, "pilotfish.up"):
        port = app_port(ctx.network.block, set(own))
    assert port not in own and port >= ephemeral_start()
    assert f"{own.start}-{own.stop - 1} full" in caplog.text
