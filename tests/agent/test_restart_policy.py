"""A pod's `restartPolicy` as the kubelet applies it to a container that ends: real processes
supervised (`agent.processes.supervise`), restarted or left terminated with their exit code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pilotfish.agent.processes import ChildState, restarts_after, spawn, supervise


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
        ("OnFailure", 2, True), ("OnFailure", None, True), ("Never", 1, False),
        ("Never", 0, False),
    ],
)  # fmt: skip
def test_what_each_policy_restarts(policy: str, code: int | None, restarts: bool) -> None:
    assert restarts_after(policy, code) is restarts


async def _run(policy: str, script: str, log: Path, seconds: float) -> ChildState:
    child = ChildState("job")
    stopping = False

    async def launch() -> asyncio.subprocess.Process:
        return await spawn(["sh", "-c", script], {"PATH": "/usr/bin:/bin"}, log, new_run=True)

    task = asyncio.create_task(supervise(child, launch, lambda: stopping, "pod", policy=policy))
    await asyncio.wait({task}, timeout=seconds)
    stopping = True
    if child.process is not None and child.process.returncode is None:
        child.process.kill()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return child


@pytest.mark.parametrize(("policy", "code"), [("Never", 3), ("OnFailure", 0)])
def test_a_container_that_ends_stays_terminated(tmp_path: Path, policy: str, code: int) -> None:
    child = asyncio.run(_run(policy, f"echo ran; exit {code}", tmp_path / "job.log", 5))
    assert child.done and child.exit_code == code and child.restarts == 0
    assert child.finished_at is not None
    assert (tmp_path / "job.log").read_text() == "ran\n"


def test_on_failure_restarts_a_failing_container(tmp_path: Path) -> None:
    """Restarted at once, then (the kubelet's back-off) waiting 10 s after its second end."""
    child = asyncio.run(_run("OnFailure", "echo ran; exit 1", tmp_path / "job.log", 1.5))
    assert not child.done and child.restarts == 1 and child.exit_code == 1
    assert child.waiting.startswith("back-off 10s restarting failed container=job pod=")
