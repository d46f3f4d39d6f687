"""The table of shared meshes (tests/e2e/shared_meshes.py) against the modules it names: each
exists and takes its mesh from `shared_mesh`, and a module asking for `shared_mesh` is in a
group (else it would start nothing: `make test` schedules a group's modules as one unit)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.shared_meshes import GROUPS, group_of

HERE = Path(__file__).parent


def test_every_grouped_module_takes_the_shared_mesh() -> None:
    for group, (_, names) in GROUPS.items():
        for name in names:
            assert "shared_mesh: LocalMesh" in (HERE / name).read_text(), (group, name)
            assert group_of(f"tests/e2e/{name}") == group


def test_every_module_taking_the_shared_mesh_is_in_a_group() -> None:
    modules = set(HERE.glob("test_*.py")) - {Path(__file__)}
    takers = {p.name for p in modules if "shared_mesh: LocalMesh" in p.read_text()}
    assert takers == {name for _, names in GROUPS.values() for name in names}


def test_other_paths_are_in_no_group() -> None:
    assert group_of("tests/e2e/test_churn.py") is None
    assert group_of("tests/other/test_describe.py") is None
