"""The local mesh's Prometheus server (Debian's `prometheus`), as Istio's Prometheus addon.

`start` writes its configuration under `<state>/prometheus/` (see
`pilotfish.ui.prometheus_config`) and starts it on `<control plane address>:9090`, once per
mesh; `refresh` rewrites targets and rule files when the mesh changes (Prometheus re-reads the
targets file by itself and is told to reload for new rules); `stop` ends it (`pilotfish down`
does). The process is recorded in `<state>/run/prometheus.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish.registry.manifest import Manifest
from pilotfish.state_files import PROMETHEUS_RECORD, running_prometheus, write_atomically
from pilotfish.ui.prometheus_config import (
    RULES_DIR,
    TARGETS_FILE,
    pod_targets,
    prometheus_config,
    rule_file,
    rule_file_name,
)

PORT = 9090
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusError(Exception):
    """Prometheus could not be started (the message says why)."""


def _dir(state_dir: Path) -> Path:
    return state_dir / "prometheus"


def _record(state_dir: Path) -> Path:
    return state_dir / PROMETHEUS_RECORD


def running(state_dir: Path) -> dict[str, Any] | None:
    """The running Prometheus of this mesh ({pid, url, scrape_interval}), or None."""
    return running_prometheus(state_dir)


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
    return True


def write_files(
    state_dir: Path,
    control_plane: str,
    proxies: dict[str, dict[str, Any]],
    manifest: Manifest,
    scrape_interval: str,
) -> bool:
    """Write config, targets and rule files; True if Prometheus must reload (config or rules)."""
    folder = _dir(state_dir)
    config = prometheus_config(
        str(folder), control_plane, manifest.service_monitors, scrape_interval
    )
    changed = _write_if_changed(folder / "prometheus.yml", config)
    _write_if_changed(folder / TARGETS_FILE, json.dumps(pod_targets(proxies), indent=1))
    rules = folder / RULES_DIR
    rules.mkdir(parents=True, exist_ok=True)
    wanted = {rule_file_name(r): rule_file(r) for r in manifest.prometheus_rules}
    for stale in rules.glob("*.yaml"):
        if stale.name not in wanted:
            stale.unlink()
            changed = True
    for name, text in wanted.items():
        changed = _write_if_changed(rules / name, text) or changed
    return changed


def _ready(url: str) -> bool:
    try:
        with _DIRECT.open(f"{url}/-/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start(
    state_dir: Path,
    control_plane: str,
    proxies: dict[str, dict[str, Any]],
    manifest: Manifest,
    scrape_interval: str = "15s",
) -> str:
    """Start this mesh's Prometheus unless it runs; its URL once it answers `/-/ready`."""
    found = running(state_dir)
    if found is not None:
        return str(found["url"])
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusError(
            "the prometheus server is not installed (Debian: apt-get install prometheus)"
        )
    write_files(state_dir, control_plane, proxies, manifest, scrape_interval)
    folder = _dir(state_dir)
    url = f"http://{control_plane}:{PORT}"
    log_path = state_dir / "logs" / "prometheus.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={control_plane}:{PORT}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    record = {"pid": process.pid, "url": url, "scrape_interval": scrape_interval}
    write_atomically(_record(state_dir), json.dumps(record))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _record(state_dir).unlink(missing_ok=True)
            raise PrometheusError(f"prometheus exited; see {log_path}")
        if _ready(url):
            return url
        time.sleep(0.2)
    stop(state_dir)
    raise PrometheusError(f"prometheus did not become ready in 60 s; see {log_path}")


def refresh(
    state_dir: Path, control_plane: str, proxies: dict[str, dict[str, Any]], manifest: Manifest
) -> None:
    """Keep a running Prometheus in step with the mesh (no-op when none runs)."""
    found = running(state_dir)
    if found is None:
        return
    interval = str(found.get("scrape_interval") or "15s")
    if write_files(state_dir, control_plane, proxies, manifest, interval):
        request = urllib.request.Request(f"{found['url']}/-/reload", method="POST")
        with contextlib.suppress(OSError):
            _DIRECT.open(request, timeout=5).close()


def stop(state_dir: Path) -> None:
    found = running(state_dir)
    _record(state_dir).unlink(missing_ok=True)
    if found is None:
        return
    pid = int(found["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll until it is gone
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
