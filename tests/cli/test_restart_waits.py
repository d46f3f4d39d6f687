"""`delete pod` / `rollout restart` of a Deployment's pod return only once the replacement pods
are there and ready: the old pod's row leaves mesh.json before the new one's appears, and that
empty moment is not "every pod started again" (CI saw `delete pod -l app=sleep` return with no
sleep pod in mesh.json)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pilotfish.cli import restart


def _mesh(*pods: tuple[str, float, bool]) -> dict[str, Any]:
    return {
        "proxies": {
            f"{name}.legacy": {
                "instance": name,
                "namespace": "legacy",
                "workload": "sleep",
                "labels": {"app": "sleep"},
                "created": created,
                "ready": ready,
            }
            for name, created, ready in pods
        }
    }


def test_delete_pod_waits_for_the_replacement_not_for_an_empty_moment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pilotfish.cli import apply, kube_wait

    later = time.time() + 3600
    states = [
        _mesh(("sleep-0", 1.0, True)),  # what delete_pods reads first
        _mesh(),  # the old pod's row is gone, the new one not there yet
        _mesh(("sleep-0", later, False)),  # the new pod, not ready
        _mesh(("sleep-0", later, True)),
    ]
    reads: list[int] = []

    def running_mesh(state_dir: Path) -> dict[str, Any]:
        reads.append(1)
        return states[min(len(reads) - 1, len(states) - 1)]

    doc = {"kind": "Deployment", "metadata": {"name": "sleep"}, "spec": {"template": {}}}
    monkeypatch.setattr(restart, "running_mesh", running_mesh)
    monkeypatch.setattr(kube_wait, "stored_deployment", lambda *a, **k: dict(doc))
    monkeypatch.setattr(apply, "apply_files", lambda *a, **k: 0)
    monkeypatch.setattr(time, "sleep", lambda s: None)

    code = restart.delete_pods([], None, "legacy", tmp_path, lambda kind, names: 0, timeout=5)
    assert code == 1  # no name and no selector: kubectl's error
    reads.clear()
    from pilotfish.cli.selectors import parse_selector

    code = restart.delete_pods(
        [], parse_selector("app=sleep"), "legacy", tmp_path, lambda kind, names: 0, timeout=5
    )
    assert code == 0
    assert capsys.readouterr().out.endswith('pod "sleep-0" deleted\n')
    assert len(reads) == len(states), "returned before the new pod was ready"
