"""Root pytest configuration: the `--update-goldens` flag (sets UPDATE_GOLDENS=1 for golden
tests), and the lock that lets `make test` spread modules over xdist workers
(`-n 2 --dist loadfile`: each module stays on one worker, so its module-scoped mesh starts once).

A module marked `host_network` changes or compares the host's own network state (namespaces,
links, routes, iptables): it holds an exclusive lock on one machine-wide file for its whole run,
so no two such modules — from this run's workers or from another checkout's run — overlap."""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Iterator

import pytest

HOST_NETWORK_LOCK = "/tmp/pilotfish-tests-host-network.lock"


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
