"""Fixtures that start real meshes (control plane, Envoys, sample apps) and always stop them;
`shared_mesh`: the mesh of the module's group (`tests/e2e/shared_meshes.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.shared_meshes import MeshPool, group_of, pool

POOL = pytest.StashKey[MeshPool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        yield mesh


@pytest.fixture
def empty_mesh_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="session")
def mesh_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshPool]:
    with pool(tmp_path_factory) as shared:
        request.config.stash[POOL] = shared
        yield shared
        del request.config.stash[POOL]


@pytest.fixture(scope="module")
def shared_mesh(request: pytest.FixtureRequest, mesh_pool: MeshPool) -> Iterator[LocalMesh]:
    """The module's group's mesh, as it started; checked unchanged when the module ends."""
    group = group_of(str(request.path))
    assert group, f"{request.path} is in no group of tests/e2e/shared_meshes.py"
    yield mesh_pool.acquire(group)
    mesh_pool.release(request.node.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Before the module fixtures come down: whether the next test is of the shared mesh's group
    (if not, the mesh stops with the module instead of idling, ~7 % of a core for Bookinfo)."""
    shared = item.config.stash.get(POOL, None)
    if shared is not None:
        shared.last = nextitem is None or group_of(str(nextitem.path)) != shared.group
