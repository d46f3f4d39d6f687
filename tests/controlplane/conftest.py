"""Fixtures of the control plane's tests: `on_demand_mesh`, bench's scale topology in a control
plane with on-demand clusters (and, asked, virtual hosts), one per call (`scale_kit`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.controlplane.scale_kit import MakeMesh, OnDemandMesh, build


@pytest.fixture
def on_demand_mesh(tmp_path: Path) -> MakeMesh:
    def make(name: str = "", *, clusters: bool = True, routes: bool = False) -> OnDemandMesh:
        return build(tmp_path / name if name else tmp_path, clusters, routes)

    return make
