"""Fixtures that start real meshes (control plane, Envoys, sample apps) and always stop them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh


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
