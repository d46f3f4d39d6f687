"""`logs` on a pod of several containers picks one as kubectl does: `-c NAME`, else the pod's
`kubectl.kubernetes.io/default-container`, else the first with kubectl's note; a name the pod
does not have is the API server's BadRequest."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pilotfish.agent.containers import container_log_path
from pilotfish.cli.logs import logs_command


def _mesh(tmp_path: Path, **row: Any) -> Path:
    run_dir = tmp_path / "run" / "job-0.default"
    run_dir.mkdir(parents=True)
    (run_dir / "app.log").write_text("main says hi\n")
    helper = container_log_path(run_dir, "helper")
    helper.parent.mkdir()
    helper.write_text("helper says hi\n")
    proxy = {"namespace": "default", "instance": "job-0", "type": "sidecar", "labels": {},
             "run_dir": str(run_dir), "app_containers": ["main", "helper"]} | row  # fmt: skip
    info = {"pid": os.getpid(), "state_dir": str(tmp_path), "proxies": {"job-0.default": proxy}}
    (tmp_path / "run" / "mesh.json").write_text(json.dumps(info))
    return tmp_path


def test_a_named_container_and_kubectls_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _mesh(tmp_path, sidecar=False)
    assert logs_command("job-0", "helper", None, None, state) == 0
    assert capsys.readouterr().out == "helper says hi\n"
    assert logs_command("job-0", None, None, None, state) == 0  # no annotation: the first
    shown = capsys.readouterr()
    assert shown.out == "main says hi\n"
    assert shown.err == 'Defaulted container "main" out of: main, helper\n'
    assert logs_command("job-0", "nope", None, None, state) == 1
    err = capsys.readouterr().err
    assert err == "Error from server (BadRequest): container nope is not valid for pod job-0\n"


def test_the_pods_default_container_annotation_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _mesh(tmp_path, default_container="helper")
    assert logs_command("job-0", None, None, None, state) == 0
    shown = capsys.readouterr()
    assert (shown.out, shown.err) == ("helper says hi\n", "")
