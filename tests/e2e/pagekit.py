"""Test helper for Istio's pages typed as they are: `kubectl` and `istioctl` on a mesh's PATH
standing for `pilotfish`, and a page's shell text run by bash as a reader pastes it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.e2e.meshctl import ROOT, LocalMesh

SAMPLES = "tests/data/istio-samples"
"""Istio's own `samples/httpbin/httpbin.yaml`, `samples/sleep/sleep.yaml` and
`samples/curl/curl.yaml` (this repository's samples/ holds pilotfish's shorthand for them)."""


def add_shims(mesh: LocalMesh) -> None:
    """`kubectl` and `istioctl` on the PATH of every command `mesh` runs: `pilotfish`."""
    shims = mesh.home / "shims"
    shims.mkdir(exist_ok=True)
    for name in ("kubectl", "istioctl"):
        (shims / name).write_text(f'#!/bin/sh\nexec {sys.executable} -m pilotfish "$@"\n')
        (shims / name).chmod(0o755)
    mesh.env["PATH"] = f"{shims}{os.pathsep}{mesh.env.get('PATH', os.defpath)}"


def sh(
    mesh: LocalMesh, script: str, timeout: float = 240, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """The page's shell text, run by bash as a reader would paste it (in the repository, or in
    `cwd` for a page that writes files: `cat <<EOF > ./tracing.yaml`)."""
    return subprocess.run(
        ["bash", "-c", script], env=mesh.env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def sh_ok(mesh: LocalMesh, script: str) -> str:
    """`sh`, asserted to exit 0 (its output in the failure); its stdout."""
    result = sh(mesh, script)
    assert result.returncode == 0, (script, result.stdout, result.stderr)
    return result.stdout


def exported(mesh: LocalMesh, lines: str) -> str:
    """The page's `export NAME=$(kubectl …)` lines run once, as a reader's one shell session
    runs them, and what they set as literal `export NAME=VALUE` lines, the prefix for the page's
    later commands (each `sh` is a new bash: prefixing the page's lines again would run their
    `kubectl` calls again for the same values)."""
    names = re.findall(r"^export (\w+)=", lines, re.M)
    assert names, lines
    echo = "".join(f'printf "%s\\0" "{name}=${name}"\n' for name in names)
    values = sh_ok(mesh, lines + echo).split("\0")[:-1]
    assert len(values) == len(names), values
    return "".join(f"export {shlex.quote(value)}\n" for value in values)
