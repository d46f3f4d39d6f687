"""`pilotfish bug-report` (istioctl's `bug-report`, Istio's "Collecting bug reports" page):
`bug-report.tar.gz` (in the current folder, or `--output-dir`) holding what istioctl collects, in
its layout under `bug-report/`, as far as it exists locally:

- `versions`: the client, control plane and data plane versions (`pilotfish version`);
- `istio/istio-system/istiod-0/`: the control plane's log as `discovery.log`, and its debug
  endpoints by istiod's names (`debug/syncz`, `debug/registryz`, `debug/configz`: the stored
  config, Secrets' values redacted; `debug/mesh`: the mesh config; `metrics`);
- `proxies/NS/POD/`: each sidecar's and gateway's `istio-proxy.log` and its Envoy admin's
  `config_dump?include_eds`, `clusters`, `listeners`, `stats/prometheus`, `server_info`,
  `certs`, `memory`, `runtime` (Envoy's own dump: private keys redacted);
- `analyze/allNamespaces/allNamespaces`: `analyze -A` of the running mesh (`--skip-analyze`).

`--include` / `--exclude` take istioctl's specs; their namespace part (`ns1,ns2`, `*` globs, the
first `/`-separated field) chooses whose proxies are collected (istioctl's default excludes the
Kubernetes system namespaces). The archive is written atomically; the working folder removed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.kube_pods import CONTROL_PLANE, ISTIO_SYSTEM, has_proxy
from pilotfish.cli.pods import admin_address
from pilotfish.local.client import call, control_plane_log

ROOT = "bug-report"
PROXY_URLS = ("certs", "clusters", "config_dump?include_eds", "listeners", "memory",
              "server_info", "stats/prometheus", "runtime")  # fmt: skip
CONTROL_PLANE_URLS = {"debug/syncz": "/debug/syncz", "debug/registryz": "/debug/registryz",
                      "debug/configz": "/api/v1/config", "metrics": "/metrics"}  # fmt: skip
DEFAULT_EXCLUDE = "kube-system,kube-public,kube-node-lease,local-path-storage"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def namespaces_of(specs: list[str]) -> list[str]:
    """The namespace globs of istioctl's specs (`ns1,ns2/deploy/pod/...`: the first field)."""
    return [glob for spec in specs for glob in spec.split("/", 1)[0].split(",") if glob]


def chosen(namespace: str, include: list[str], exclude: list[str]) -> bool:
    """Included (no include spec: every namespace) and not excluded afterwards."""
    wanted = namespaces_of(include)
    if wanted and not any(fnmatch.fnmatchcase(namespace, glob) for glob in wanted):
        return False
    return not any(fnmatch.fnmatchcase(namespace, glob) for glob in namespaces_of(exclude))


def _get(url: str) -> str:
    """The body of a GET (a debug endpoint that fails is left out, as istioctl leaves it)."""
    try:
        with _DIRECT.open(url, timeout=20) as resp:
            return str(resp.read().decode(errors="replace"))
    except OSError as exc:
        print(f"warning: {url}: {exc}", file=sys.stderr)
        return ""


def _write(path: Path, text: str) -> None:
    if text.strip():  # istioctl leaves empty outputs out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _mesh_config(info: dict[str, Any]) -> str:
    from pilotfish.cli.kube_builtins import always_there

    status, body = call(str(info["api"]), "GET", "/api/v1/config?kind=ConfigMap")
    stored: list[dict[str, Any]] = list(body.get("documents") or []) if status == 200 else []
    for doc in [*stored, *always_there("ConfigMap", stored, ["istio"], ISTIO_SYSTEM, info)]:
        meta = doc.get("metadata") or {}
        if (meta.get("name"), meta.get("namespace")) == ("istio", ISTIO_SYSTEM):
            return str((doc.get("data") or {}).get("mesh") or "")
    return ""


def _analysis(state_dir: Path) -> str:
    from pilotfish.cli.analyze import AnalyzeOptions, run

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(io.StringIO()):
        run(AnalyzeOptions(use_mesh=True, all_namespaces=True, state_dir=state_dir))
    return text.getvalue()


def collect(info: dict[str, Any], root: Path, include: list[str], exclude: list[str],
            analyze: bool) -> list[str]:  # fmt: skip
    """Write the report's files under `root`; the proxies collected (`NS/POD`)."""
    from pilotfish.cli.version import versions

    state_dir = Path(str(info["state_dir"]))
    _write(root / "versions", json.dumps(versions(state_dir), indent=2) + "\n")
    print("\n✅ Fetching Istio control plane information from cluster.\n")
    istiod = root / "istio" / ISTIO_SYSTEM / f"{CONTROL_PLANE}-0"
    _write(istiod / "discovery.log", _read(control_plane_log(state_dir)))
    for name, path in CONTROL_PLANE_URLS.items():
        _write(istiod / name, _get(f"{info['api']}{path}"))
    _write(istiod / "debug" / "mesh", _mesh_config(info))
    proxies = sorted(
        (str(row.get("namespace") or "default"), str(row.get("instance") or key), row)
        for key, row in info.get("proxies", {}).items()
        if has_proxy(row)
    )
    collected = [f"{ns}/{pod}" for ns, pod, _ in proxies if chosen(ns, include, exclude)]
    print("✅ Fetching logs for the following containers:\n")
    print("\n".join(f"{name}/istio-proxy" for name in collected) + "\n")
    for ns, pod, row in proxies:
        if f"{ns}/{pod}" not in collected:
            continue
        folder = root / "proxies" / ns / pod
        _write(folder / "istio-proxy.log", _read(Path(str(row.get("run_dir"))) / "envoy.log"))
        for url in PROXY_URLS:
            _write(folder / url, _get(f"http://{admin_address(row)}/{url}"))
    if analyze:
        print("✅ Running Istio analyze on all namespaces and report as below:")
        report = _analysis(state_dir)
        print(f"\n✅ Analysis Report:\n{report}")
        _write(root / "analyze" / "allNamespaces" / "allNamespaces", report)
    return collected


def bug_report_command(
    include: list[str], exclude: list[str], output_dir: str | None, analyze: bool,
    state_dir: Path,
) -> int:  # fmt: skip
    info = running_mesh(state_dir)
    out_dir = Path(output_dir or ".").absolute()
    if not out_dir.is_dir():
        raise UserError(f"--output-dir {out_dir}: not a folder")
    work = Path(tempfile.mkdtemp(prefix="pilotfish-bug-report-"))
    try:
        collect(info, work / ROOT, include, exclude or [DEFAULT_EXCLUDE], analyze)
        target = out_dir / "bug-report.tar.gz"
        print(f"✅ Creating an archive at {target}.")
        partial = out_dir / f".bug-report.tar.gz.{os.getpid()}"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(work / ROOT, arcname=ROOT)
        os.replace(partial, target)
        print(f"✅ Cleaning up temporary files in {work}.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(NameError, OSError):
            partial.unlink()
    print("✅ Done.")
    return 0
