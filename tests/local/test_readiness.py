"""The launcher's readiness, as Kubernetes': ready after one passing check, unready only after
three failing ones in a row."""

from __future__ import annotations

from pathlib import Path

from pilotfish.local.launcher import FAILURE_THRESHOLD, Mesh, UpOptions


def test_a_pod_stays_ready_through_fewer_than_three_failed_checks(tmp_path: Path) -> None:
    mesh = Mesh(UpOptions(tmp_path))
    assert FAILURE_THRESHOLD == 3
    assert mesh._probe("a", False) is False  # never ready yet: not ready
    assert mesh._probe("a", True) is True
    mesh.ready_pods = {"a"}
    assert [mesh._probe("a", False) for _ in range(3)] == [True, True, False]
    mesh.ready_pods = set()
    assert mesh._probe("a", True) is True  # one pass is enough to come back
