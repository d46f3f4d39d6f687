"""`pilotfish rollout restart`'s requests to a running `pilotfish up`, and the answers.

The command writes one file per pod, `run/restart/<NAME.NS>`, holding a request id; the
launcher's loop takes the files (`take_requests`), restarts each pod's proxy in place and
reports in `mesh.json`'s row of that pod: `restart: {request, ok, epoch, error}`
(`RestartResult.row`). A file, as everything else between the CLI and `up`: no socket to secure.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotfish.state_files import write_atomically

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
