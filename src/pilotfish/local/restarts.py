"""`pilotfish rollout restart`'s requests to a running `pilotfish up`, and the answers.

The command writes one file per pod, `run/restart/<NAME.NS>`, holding a request id; the
launcher's loop takes the files (`take_requests`), restarts each pod's proxy in place and
reports in `mesh.json`'s row of that pod: `restart: {request, ok, epoch, error}`
(`RestartResult.row`). A file, as everything else between the CLI and `up`: no socket to secure.
`InPlaceRestarts` is the launcher's side: it takes the requests and runs the restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.agent.sidecar import Agent
from pilotfish.local.pod_agent import PodAgent
from pilotfish.state_files import write_atomically

log = logging.getLogger("pilotfish.up")

REQUESTS = "restart"


@dataclass(frozen=True)
class RestartResult:
    request: str
    ok: bool
    epoch: int | None = None
    error: str = ""

    def row(self) -> dict[str, Any]:
        return {"request": self.request, "ok": self.ok, "epoch": self.epoch, "error": self.error}


def request_restart(run_dir: Path, pod: str) -> str:
    """Ask the launcher to restart `pod` (`NAME.NS`); returns the request id."""
    request = uuid.uuid4().hex
    folder = run_dir / REQUESTS
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / pod, request)
    return request


def take_requests(run_dir: Path) -> list[tuple[str, str]]:
    """(pod, request id) of every waiting request, removed from the folder."""
    folder = run_dir / REQUESTS
    if not folder.is_dir():
        return []
    taken = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):  # a request being written (write_atomically's temp file)
            continue
        with contextlib.suppress(OSError):
            request = path.read_text().strip()
            path.unlink()
            taken.append((path.name, request))
    return taken


@dataclass
class InPlaceRestarts:
    """The launcher's restarts: a gateway's Envoy restarts in place (hot restart), in the
    background; `results` holds each pod's last outcome (its row of mesh.json)."""

    results: dict[str, RestartResult] = field(default_factory=dict)
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def row(self, pod: str) -> dict[str, Any] | None:
        return self.results[pod].row() if pod in self.results else None

    def take(
        self, run_dir: Path, agents: Mapping[str, Agent | PodAgent], done: Callable[[], None]
    ) -> None:
        """Start a restart for every waiting request; `done` runs after each one."""
        for name, request in take_requests(run_dir):
            agent = agents.get(name)
            if agent is None or isinstance(agent, PodAgent) or agent.hot is None:
                why = "no such pod" if agent is None else "only a gateway restarts in place"
                self.results[name] = RestartResult(request, False, error=why)
                continue
            task = asyncio.create_task(self._restart(name, agent, request, done))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _restart(
        self, name: str, agent: Agent, request: str, done: Callable[[], None]
    ) -> None:
        log.info("%s: restarting its Envoy in place (hot restart)", name)
        epoch = await agent.hot_restart()
        error = "" if epoch else f"the new Envoy did not start; see {agent.spec.run_dir}"
        self.results[name] = RestartResult(request, epoch is not None, epoch, error)
        log.info("%s: %s", name, f"restarted (epoch {epoch})" if epoch is not None else error)
        done()

    async def cancel(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)
