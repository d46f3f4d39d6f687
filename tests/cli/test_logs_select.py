"""`logs -l` selects pods by label, the control plane (`istiod-0` in istio-system) included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pilotfish.cli.logs import logs_command, selected_pods
from pilotfish.cli.selectors import Selector

INFO = {
    "state_dir": "/tmp/mesh",
    "proxies": {
        "istio-ingressgateway-0.istio-system": {
            "namespace": "istio-system",
            "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
        },
        "sleep-0.default": {"namespace": "default", "labels": {"app": "sleep"}},
    },
}


def test_istiod_is_selected_in_istio_system_only() -> None:
    ((key, pod),) = selected_pods(INFO, Selector.equal({"app": "istiod"}), "istio-system")
    assert key == "istiod-0.istio-system"
    assert pod["log"] == str(Path("/tmp/mesh/logs/controlplane.log"))
    assert selected_pods(INFO, Selector.equal({"app": "istiod"}), None) == []
    gateways = selected_pods(INFO, Selector.equal({"istio": "ingressgateway"}), "istio-system")
    assert [k for k, _ in gateways] == ["istio-ingressgateway-0.istio-system"]
    assert [k for k, _ in selected_pods(INFO, Selector.equal({"app": "sleep"}), None)] == [
        "sleep-0.default"
    ]


def _mesh_with_logs(tmp_path: Path, lines: int) -> Path:
    """A state directory whose `run/mesh.json` names this (live) process and two sleep pods,
    each with an app log of `lines` numbered lines."""
    proxies = {}
    for pod in ("sleep-0", "sleep-1"):
        run_dir = tmp_path / "run" / f"{pod}.default"
        run_dir.mkdir(parents=True)
        (run_dir / "app.log").write_text("".join(f"{pod} line {i}\n" for i in range(lines)))
        proxies[f"{pod}.default"] = {
            "namespace": "default",
            "labels": {"app": "sleep"},
            "instance": pod,
            "run_dir": str(run_dir),
        }
    info = {"pid": os.getpid(), "state_dir": str(tmp_path), "proxies": proxies}
    (tmp_path / "run" / "mesh.json").write_text(json.dumps(info))
    return tmp_path


def test_a_selector_shows_the_last_ten_lines_of_each_pod_unless_tail_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kubectl's `logs -l`: `--tail` defaults to 10 per pod with a selector, -1 (every line)
    without one; an explicit `--tail=-1` shows every line with a selector too."""
    state = _mesh_with_logs(tmp_path, 25)
    assert logs_command(None, None, None, None, state, "app=sleep") == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown == [f"sleep-{p} line {i}" for p in (0, 1) for i in range(15, 25)]
    assert logs_command(None, None, -1, None, state, "app=sleep") == 0
    assert len(capsys.readouterr().out.splitlines()) == 50
    assert logs_command(None, None, 3, None, state, "app=sleep") == 0
    assert capsys.readouterr().out.splitlines()[:3] == [f"sleep-0 line {i}" for i in (22, 23, 24)]
    assert logs_command("sleep-1", None, None, None, state) == 0  # one pod: the whole log
    assert len(capsys.readouterr().out.splitlines()) == 25
