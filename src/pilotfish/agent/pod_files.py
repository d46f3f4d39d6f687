"""A pod's own files in local mode, where its containers share the host's file system: the
folder `<run dir>/fs/`, standing for the root of the pod's containers. What is written there:
the files the kubelet would mount into the `istio-proxy` container (Istio's
`sidecar.istio.io/userVolume` and `userVolumeMount` annotations, `registry.user_volumes`),
written by the pod's agent when it starts (`write_mounted`), and what `kubectl cp` copies into
the pod. A path a container names (`/etc/istio/tls-certs/tls.crt`, `/tmp/ca.crt`) is that
folder's file when it holds one, else the host's (`container_file`): how the agent's SDS reads
Istio's `file-cert:`/`file-root:` secrets, and how `exec` hands such paths to the command.
Standard library only (the CLI imports it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

ROOT = "fs"


def pod_root(run_dir: Path) -> Path:
    """The folder standing for the pod's `/`."""
    return run_dir / ROOT


def in_pod(run_dir: Path, path: str) -> Path:
    """Where the container path `path` (absolute) lives in the pod's folder; ValueError for a
    path that leaves it (`..`)."""
    parts = PurePosixPath("/", path).parts[1:]
    if ".." in parts:
        raise ValueError(f"{path}: a path inside the pod may not contain '..'")
    return pod_root(run_dir).joinpath(*parts)


def container_file(run_dir: Path, path: str) -> Path:
    """The file a container of the pod reads at `path`: the pod's own, else the host's."""
    if path.startswith("/"):
        try:
            own = in_pod(run_dir, path)
        except ValueError:
            return Path(path)
        if own.exists():
            return own
    return Path(path)


def write_mounted(run_dir: Path, files: Iterable[tuple[str, str]]) -> None:
    """Write the proxy container's mounted files (path -> text) into the pod's folder, readable
    by the pod's user only, as the kubelet's secret volumes."""
    for path, text in files:
        target = in_pod(run_dir, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(target, 0o600)
