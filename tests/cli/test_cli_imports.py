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


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["get", "pods"], "get"),
        (["-n", "foo", "exec", "sleep-0", "--", "curl", "-n"], "exec"),
        (["--state-dir=/tmp/x", "-nfoo", "proxy-config", "cluster", "x"], "proxy-config"),
        (["--namespace", "bar", "x", "es", "sleep-0"], "x"),
        (["experimental", "authz", "check", "p"], "experimental"),
        (["create", "ns", "foo"], "create"),
        (["kube-inject", "-f", "a.yaml"], "kube-inject"),
    ],
)
def test_a_command_line_builds_only_the_command_it_names(argv: list[str], name: str) -> None:
    """typer makes click's command of every registered function before it parses anything
    (~0.1 s of CPU a `kubectl`/`istioctl` line): `main` gives it the named one alone."""
    from pilotfish.cli.app import app
    from pilotfish.cli.main import app_for

    narrowed = app_for(argv)
    assert narrowed is not app and narrowed.registered_callback is app.registered_callback
    names = [c.name or c.callback.__name__ for c in narrowed.registered_commands if c.callback]
    assert names + [g.name for g in narrowed.registered_groups] == [name]
    assert len(app.registered_commands) > 30  # the app itself is left whole


@pytest.mark.parametrize(
    "argv", [[], ["--help"], ["gett", "pods"], ["--bogus", "get"], ["-n", "foo"]]
)
def test_no_command_or_an_unknown_one_gets_the_whole_app(argv: list[str]) -> None:
    """Top-level help lists every command; click's "No such command … Did you mean" needs them."""
    from pilotfish.cli.app import app
    from pilotfish.cli.main import app_for

    assert app_for(argv) is app
