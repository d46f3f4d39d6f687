"""`pilotfish up DIR` and `pilotfish down`: run a whole mesh on this machine.

In the foreground, Ctrl-C (or SIGTERM) stops everything `up` started. With `--detach`, `up`
starts itself in the background, returns once the mesh is ready, and `pilotfish down` stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilotfish.capture.netns import MeshBridge, require_root
from pilotfish.capture.rules import CaptureError
from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.inputs import InputError, kustomization_of, read_inputs, read_kustomization
from pilotfish.local import MeshError
from pilotfish.local.client import ApiError, MeshNotRunning, call, mesh_file, pid_alive, read_mesh
from pilotfish.model.mesh import on_demand_enabled
from pilotfish.registry.drain import env_drain_seconds
from pilotfish.registry.images import IMAGE_MAP_ENV, ImageMapError, load_image_map
from pilotfish.registry.inputs import parse_documents

if TYPE_CHECKING:
    from pilotfish.local.launcher import UpOptions


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def up_command(
    directory: str | None,
    state_dir: Path,
    ingress_address: str,
    detach: bool,
    delta: bool,
    timeout: float,
    ingress_gateway: bool = True,
    isolated: bool = False,
    image_map: str | None = None,
) -> int:
    delta = delta or on_demand_enabled(os.environ)  # on-demand clusters need delta xDS
    if isolated:
        try:
            require_root("pilotfish up --isolated")
        except CaptureError as exc:
            return _fail(str(exc))
    if image_map:  # the control plane (a child, as is a detached `up`) reads it on each apply
        try:
            load_image_map(image_map)
        except ImageMapError as exc:
            return _fail(str(exc))
        os.environ[IMAGE_MAP_ENV] = str(Path(image_map).resolve())
    try:
        info = read_mesh(state_dir)
        return _fail(
            f"a mesh is already running from {state_dir} (pid {info['pid']}); "
            "`pilotfish down` stops it"
        )
    except MeshNotRunning:
        pass
    files: list[tuple[str, str]] = []
    if directory is not None:
        try:
            kustomized = kustomization_of(directory) is not None
            files = read_kustomization(directory) if kustomized else read_inputs([directory])
        except InputError as exc:
            return _fail(str(exc))
        _, parsed = parse_documents(files)
        for d in parsed.diagnostics:
            print(f"{d.level}: {d}", file=sys.stderr)
        if not parsed.ok:
            return _fail(f"{directory}: invalid configuration; nothing was started")
    if detach:
        return _detach(
            directory, state_dir, ingress_address, delta, timeout, ingress_gateway, isolated
        )
    # the launcher (agents, Envoy bootstraps, aiohttp: ~1 s of imports) only where the mesh
    # runs: not in `up --detach`, which starts it as a child, nor in `down`
    from pilotfish.local.launcher import UpOptions

    options = UpOptions(
        state_dir,
        tuple(files),
        ingress_address,
        delta,
        timeout,
        ingress_gateway=ingress_gateway,
        env_drain=env_drain_seconds(os.environ),
        isolated=isolated,
    )
    return asyncio.run(_run_foreground(options))


def _log_to_file(state_dir: Path) -> None:
    """The launcher's own log: `<state-dir>/logs/up.log` (what started, restarted, failed)."""
    path = state_dir / "logs" / "up.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("pilotfish")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


async def _run_foreground(options: UpOptions) -> int:
    from pilotfish.local.launcher import Mesh

    _log_to_file(options.state_dir)
    mesh = Mesh(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        starting = asyncio.create_task(mesh.start())
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            print(render_summary(read_mesh(options.state_dir)), flush=True)
            print("Ctrl-C stops the mesh.", flush=True)
            await mesh.run(stop)
        else:
            starting.cancel()
        stopping.cancel()
    except MeshError as exc:
        code = _fail(str(exc))
    finally:
        print("stopping the mesh…", file=sys.stderr, flush=True)
        await mesh.stop()
        print("mesh stopped", file=sys.stderr, flush=True)
    return code


def _detach(
    directory: str | None,
    state_dir: Path,
    ingress: str,
    delta: bool,
    timeout: float,
    ingress_gateway: bool = True,
    isolated: bool = False,
) -> int:
    argv = [sys.executable, "-m", "pilotfish", "--state-dir", str(state_dir), "up"]
    argv += [directory] if directory else []
    argv += ["--ingress-address", ingress, "--timeout", str(timeout)] + (
        ["--delta"] if delta else []
    )
    argv += [] if ingress_gateway else ["--no-ingress-gateway"]
    argv += ["--isolated"] if isolated else []
    log_path = state_dir / "logs" / "up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + timeout + 25
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return _fail(f"the mesh did not start; see {log_path}:\n{_tail(log_path)}")
        try:
            info = read_mesh(state_dir)
            if info.get("ready") and info.get("pid") == child.pid:
                print(render_summary(info))
                print(f"running in the background (pid {child.pid}); `pilotfish down` stops it")
                return 0
        except MeshNotRunning:
            pass
        time.sleep(0.05)
    child.terminate()
    return _fail(f"the mesh was not ready in time; see {log_path}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def down_command(state_dir: Path, timeout: float = 30) -> int:
    try:
        info = read_mesh(state_dir)
    except MeshNotRunning:
        if _remove_stale_pods(state_dir):  # what a killed `up --isolated` left behind
            print(f"no mesh was running; removed the pods and bridge it left in {state_dir}")
            return 0
        info = running_mesh(state_dir)  # the usual error
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid) and not _reaped(pid):
        time.sleep(0.05)
    if pid_alive(pid) and not _reaped(pid):
        os.kill(pid, signal.SIGKILL)
    mesh_file(state_dir).unlink(missing_ok=True)
    _remove_stale_pods(state_dir)  # if it had to be killed
    print(f"mesh stopped (pid {pid})")
    return 0


def _remove_stale_pods(state_dir: Path) -> bool:
    """Remove the namespaces and bridge an isolated mesh of `state_dir` left (its `up` was
    killed); False when there are none."""
    try:
        block = int(json.loads((state_dir / "network.json").read_text())["block"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    bridge = MeshBridge(block, str(state_dir.resolve()))
    if not bridge.ours():
        return False
    try:
        require_root("removing an isolated mesh's pods")
        bridge.remove()
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    return True


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        # Not our child: it is gone once /proc says it is a zombie or missing.
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except OSError:
            return True


def render_summary(info: dict[str, Any]) -> str:
    lines = [
        f"pilotfish mesh is up in {info['startup_seconds']} s  (state: {info['state_dir']})",
        f"  control plane     xDS {info['xds']}   API {info['api']}",
    ]
    gateways = [(n, p) for n, p in info["proxies"].items() if p["type"] == "router"]
    for name, gw in gateways:
        pod = gw.get("instance") or name
        lines.append(f"  ingress gateway   {pod} listening on {info['ingress_address']}")
    lines.append("  workloads (each with its own address and Envoy sidecar, admin on :15000):")
    for name, proxy in info["proxies"].items():
        if proxy["type"] == "sidecar":
            pod = proxy.get("instance") or name
            lines.append(f"    {pod:<28} {proxy['namespace']:<12} {proxy['ip']}")
    for port in _gateway_ports(info["api"]):
        lines.append(f"  gateway port      http://{info['ingress_address']}:{port}/")
    return "\n".join(lines)


def _gateway_ports(api: str) -> list[int]:
    try:
        status, body = call(api, "GET", "/api/v1/config?kind=Gateway")
    except ApiError:
        return []
    ports = set()
    for doc in body.get("documents", []) if status == 200 else []:
        for server in (doc.get("spec") or {}).get("servers") or []:
            number = (server.get("port") or {}).get("number")
            if isinstance(number, int):
                ports.add(number)
    return sorted(ports)
