"""Talking to a running local mesh: find it from the state directory, call its API.

A running `pilotfish up` writes `<state-dir>/run/mesh.json` (`write_mesh_file`; a pod's row
there is `pod_status`); every other command reads it. Beside each proxy's files, in its run dir, the
launcher writes its `istio-proxy` container's environment (`write_proxy_env`), which `exec -c
istio-proxy` gives its commands.
The state directory is `--state-dir`, else $PILOTFISH_HOME, else ~/.pilotfish.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilotfish.state_files import read_admin_token, write_atomically

if TYPE_CHECKING:
    from pilotfish.agent.sidecar import Agent
    from pilotfish.agent.spec import AgentSpec
    from pilotfish.local.launcher import Mesh
    from pilotfish.local.pod_agent import PodAgent

PROXY_ENV_FILE = "istio-proxy-env.json"


class MeshNotRunning(Exception):
    """No mesh is running from this state directory."""


class ApiError(Exception):
    """The control plane could not be reached or answered with an error."""


def default_state_dir() -> Path:
    home = os.environ.get("PILOTFISH_HOME")
    return Path(home) if home else Path.home() / ".pilotfish"


def mesh_file(state_dir: Path) -> Path:
    return state_dir / "run" / "mesh.json"


def write_mesh_file(mesh: Mesh, ready: bool) -> dict[str, Any]:
    """Write mesh.json for `mesh` (atomically: commands read it at any time); its pods' rows."""
    proxies = {
        name: pod_status(
            a, name in mesh.ready_pods, mesh.created.get(name, 0.0), mesh.restarts.row(name)
        )
        for name, a in sorted(mesh.agents.items())
    }
    control_plane = mesh.control_plane
    info = {
        "pid": os.getpid(),
        "state_dir": str(mesh.options.state_dir),
        "api": control_plane.api,
        "xds": control_plane.xds,
        "block": mesh.network.block,
        "isolated": mesh.pods is not None,
        "ingress_address": mesh.options.ingress_address,
        "ready": ready,
        "written_at": time.time(),  # when the pods' readiness was last read
        "startup_seconds": mesh.ready_after,
        "control_plane_pid": cp.pid if (cp := control_plane.process) else None,
        "control_plane_created": control_plane.created,
        "control_plane_serving": mesh.serving,
        "proxies": proxies,
        "trace_collectors": mesh.collectors.urls(mesh.network.control_plane_ip),
    }
    write_atomically(mesh_file(mesh.options.state_dir), json.dumps(info, indent=1))
    return proxies


def pod_status(
    agent: Agent | PodAgent, ready: bool, created: float, restart: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One pod's entry in mesh.json's `proxies` (what `get pods`, `proxy-status` … read);
    `restart`: the outcome of its last `rollout restart` (`local.restarts`)."""
    from pilotfish.agent.sidecar import Agent  # the launcher's import, not the CLI's

    proxy = agent.spec.proxy
    return {
        "id": proxy.id,
        "instance": proxy.instance,
        "app": proxy.label_map.get("app", ""),
        "ready": ready,
        "created": created,
        "ip": proxy.ip,
        "type": proxy.type.value,
        "workload": proxy.workload,
        "namespace": proxy.namespace,
        "labels": dict(proxy.labels),
        "outbound_port": proxy.outbound_port,
        "ws_proxy_port": proxy.ws_proxy_port,
        "run_dir": str(agent.spec.run_dir),
        **agent.child_status(),
        "app_ports": {str(c): real for c, real in proxy.app_ports},
        "sidecar": agent.spec.sidecar,
        "prometheus": dict(agent.spec.scrape) if agent.spec.scrape else None,
        "netns": agent.spec.netns,
        "envoy_epoch": agent.hot.epoch if isinstance(agent, Agent) and agent.hot else None,
        "restart": restart,
        # the app container's declared `env`, resolved for this pod (what `exec` gives): only
        # when it has one, so a mesh of thousands of pods keeps mesh.json small
        **({"app_env": dict(app.env)} if (app := agent.spec.app) is not None and app.env else {}),
        # the kubelet could not make the app's env (a ConfigMap, Secret or key missing)
        **({"app_config_error": app.config_error} if app is not None and app.config_error else {}),
        **_containers(agent.spec),
    }


def _containers(spec: AgentSpec) -> dict[str, Any]:
    """A pod's app containers by name, in its order (`app_containers`; absent for a
    `Workload`, whose one container is named by its app label), the other containers' declared
    env (`container_env`), and the pod's `kubectl.kubernetes.io/default-container`."""
    app = spec.app
    found: dict[str, Any] = {}
    if app is not None and app.name:
        found["app_containers"] = [app.name, *(s.name for s in spec.siblings)]
    if envs := {s.name: dict(s.env) for s in spec.siblings if s.env}:
        found["container_env"] = envs
    if spec.default_container:
        found["default_container"] = spec.default_container
    return found


def write_proxy_env(spec: AgentSpec, host_ip: str) -> None:
    """The `istio-proxy` container's environment, as Istio's injector writes it and as far as
    it holds for this proxy: what its agent runs with (`agent.environment`: POD_NAME,
    POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT, PROXY_CONFIG, CA_ADDR, TRUST_DOMAIN, the
    ISTIO_META_* of its node metadata, ...), its node's HOST_IP, and PILOT_CERT_PROVIDER
    `istiod` (its certificates come from the control plane's CA)."""
    from pilotfish.agent.environment import agent_environment
    from pilotfish.state_files import write_atomically

    env = agent_environment(spec) | {"HOST_IP": host_ip}
    if spec.identity is not None:
        env["PILOT_CERT_PROVIDER"] = "istiod"
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(spec.run_dir / PROXY_ENV_FILE, json.dumps(env, indent=1, sort_keys=True))


def proxy_env(row: dict[str, Any]) -> dict[str, str]:
    """What `write_proxy_env` wrote for a pod's row of mesh.json ({} when nothing was)."""
    try:
        found = json.loads((Path(str(row["run_dir"])) / PROXY_ENV_FILE).read_text())
    except (KeyError, OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def pid_alive(pid: int) -> bool:
    """True if `pid` is a live process: a killed one not yet reaped (a zombie) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces and parentheses
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def read_mesh(state_dir: Path) -> dict[str, Any]:
    path = mesh_file(state_dir)
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise MeshNotRunning(
            f"no mesh is running from {state_dir} (start one with `pilotfish up DIR`)"
        ) from None
    if not pid_alive(int(info.get("pid", 0))):
        raise MeshNotRunning(
            f"the mesh in {state_dir} is not running (pid {info.get('pid')} is gone)"
        )
    return info


def owner_token(state_dir: Path) -> str | None:
    """The mesh owner's API token (`<state>/admin-token`), or None if it cannot be read."""
    return read_admin_token(state_dir)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(
    api: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 30,
    token: str | None = None,
) -> tuple[int, Any]:
    """Call the control plane's API; `token` (the owner's, `owner_token`) for writes."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(api + path, data=data, method=method, headers=headers)
    try:
        with _DIRECT.open(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            raise ApiError(f"{method} {path}: HTTP {err.code}") from None
    except (OSError, ValueError) as exc:
        raise ApiError(f"cannot reach the control plane at {api}: {exc}") from None


def control_plane_log(state_dir: Path) -> Path:
    """Where a mesh's control plane writes its output (`logs -n istio-system -l app=istiod`)."""
    return state_dir / "logs" / "controlplane.log"
