"""The bottom floor for state on disk: where a mesh keeps its stored config, and writing a file
atomically (temp file in the same folder, fsync, rename), so a crash never leaves half a write.

Imports nothing from pilotfish: every layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ADMIN_TOKEN_FILE = "admin-token"
"""The mesh owner's API token (mode 0600): the CLI and the launcher send it with every write."""
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


def read_admin_token(state_dir: Path) -> str | None:
    """The owner's token of the mesh in `state_dir`, or None if it cannot be read."""
    try:
        return (state_dir / ADMIN_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None
