"""Root pytest configuration: the `--update-goldens` flag (sets UPDATE_GOLDENS=1 for golden
tests), and the lock that lets `make test` spread modules over xdist workers
(`-n 2 --dist loadfile`: each module stays on one worker, so its module-scoped mesh starts once).

A module marked `host_network` changes or compares the host's own network state (namespaces,
links, routes, iptables): it holds an exclusive lock on one machine-wide file for its whole run,
so no two such modules — from this run's workers or from another checkout's run — overlap.

Before the run, `src/` and `samples/` are byte-compiled once (`precompile`): every process the
end-to-end tests start (each `pilotfish` command, control plane, agent, sample app) imports them,
and where PYTHONDONTWRITEBYTECODE is set (this CI machine's environment) each would otherwise
compile every module it imports from source again."""

from __future__ import annotations

import compileall
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HOST_NETWORK_LOCK = "/tmp/pilotfish-tests-host-network.lock"
ROOT = Path(__file__).resolve().parents[1]
PRECOMPILED = ("src", "samples")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--update-goldens"):
        os.environ["UPDATE_GOLDENS"] = "1"
    if not hasattr(config, "workerinput"):  # once, in the controller (or the only process)
        precompile()


def precompile() -> None:
    """Write the `__pycache__` of the code the tests' subprocesses import, as the first import
    would without PYTHONDONTWRITEBYTECODE (py_compile writes whatever that says; imports read
    a cache whose source's mtime and size match, so a stale one is never used). Up to date
    files are only stat'ed: ~0.1 s of CPU per `pilotfish` command saved, a few seconds spent
    once."""
    for folder in PRECOMPILED:
        compileall.compile_dir(ROOT / folder, quiet=1)


@pytest.hookimpl(optionalhook=True)  # known only with pytest-xdist loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` with the modules of a shared mesh's group (tests/e2e/shared_meshes.py)
    as one unit: one worker runs them one after the other, and starts their mesh once."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.e2e.shared_meshes import group_of
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class SharedMeshScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            group = group_of(nodeid.split("::", 1)[0])
            return f"shared mesh {group}" if group else super()._split_scope(nodeid)

    return SharedMeshScheduling(config, log)


@pytest.fixture(scope="module", autouse=True)
def host_network_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Held for the module's whole run when it is marked `host_network` (autouse fixtures start
    before the module's own, so its "before" snapshot of the host is taken under the lock)."""
    if request.node.get_closest_marker("host_network") is None:
        yield
        return
    with open(HOST_NETWORK_LOCK, "a") as lock:
        # the wait for another module's run is not this test's time: pytest-timeout's alarm
        # (ITIMER_REAL) pauses while it lasts and resumes with what was left
        left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        finally:
            if left > 0:
                signal.setitimer(signal.ITIMER_REAL, left)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
