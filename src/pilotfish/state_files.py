"""The bottom floor for state on disk: where a mesh keeps its stored config, and writing a file
atomically (temp file in the same folder, fsync, rename), so a crash never leaves half a write.

Imports nothing from pilotfish: every layer may use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ADMIN_TOKEN_FILE = "admin-token"
"""The mesh owner's API token (mode 0600): the CLI and the launcher send it with every write."""
UI_TOKEN_FILE = "ui-token"
"""The web UI's read-only token (mode 0600): what a browser that is not on this machine must
show (`pilotfish.ui.guard`); `pilotfish dashboard` prints it in the URL when needed."""
PROMETHEUS_RECORD = "run/prometheus.json"
"""The mesh's running Prometheus ({pid, url, scrape_interval}), written by `pilotfish dashboard
prometheus` (`local.prometheus`); the UI reads it to query that server."""
STORE_FILE = "config.yaml"
"""The control plane's document store, in its state directory (read by agents and `exec` for
the services' environment variables)."""


def write_atomically(path: Path, text: str) -> None:
    """Files are created mode 0600 (readable by the owner only, from the first byte): state may
    hold keys, tokens and Secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def running_prometheus(state_dir: Path) -> dict[str, Any] | None:
    """The record of this mesh's Prometheus if its process is alive, else None."""
    try:
        info = json.loads((state_dir / PROMETHEUS_RECORD).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def read_admin_token(state_dir: Path, name: str = ADMIN_TOKEN_FILE) -> str | None:
    """The owner's token of the mesh in `state_dir` (or the token file `name`: UI_TOKEN_FILE),
    or None if it cannot be read."""
    try:
        return (state_dir / name).read_text().strip() or None
    except OSError:
        return None
