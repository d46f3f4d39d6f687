"""The kubectl-like commands a user types all day start without the agent's and the launcher's
machinery: no aiohttp, no Envoy bootstrap protos, no agent metrics or spec building. Each of
those came in through a module-level import for one small fact (a port number, a path, the
node's capacity) and cost every `get`, `logs` and `exec` ~0.4 s of start-up. Checked by the
modules the command imports (`python -X importtime`), not by a clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {
    "aiohttp",
    "pilotfish.agent.bootstrap",
    "pilotfish.agent.metrics",
    "pilotfish.local.specs",
    "pilotfish.local.control_plane",
    "envoy.config.bootstrap.v3.bootstrap_pb2",
}


def _imported(argv: list[str], home: Path) -> set[str]:
    env = {**os.environ, "PILOTFISH_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pilotfish", *argv],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}  # fmt: skip
    assert "pilotfish.cli.main" in names, done.stderr[-2000:]
    return names


@pytest.mark.parametrize(
    "argv", [["get", "pods"], ["logs", "web-0"], ["exec", "web-0", "--", "true"], ["top", "pod"]]
)
def test_everyday_commands_import_no_agent_or_launcher_machinery(
    argv: list[str], tmp_path: Path
) -> None:
    assert _imported(argv, tmp_path) & HEAVY == set()


@pytest.mark.parametrize("argv", [["down"], ["up", "--detach", "no-such-folder"]])
def test_down_and_a_detached_ups_parent_leave_the_launcher_to_the_mesh(
    argv: list[str], tmp_path: Path
) -> None:
    """`pilotfish down` signals the mesh's process; `up --detach` checks the files and starts
    `pilotfish up` as a child: neither runs the launcher, whose imports cost each ~0.6 s of CPU
    (every test's mesh is started and stopped so)."""
    imported = _imported(argv, tmp_path)
    assert "pilotfish.cli.up" in imported
    assert imported & (HEAVY | {"pilotfish.local.launcher"}) == set()
