"""`pilotfish exec POD [-c CONTAINER] [-n NS] -- CMD…`: run a command as if inside a pod.

The local analogue of `kubectl exec`: the command's outbound HTTP goes through that pod's sidecar
(HTTP_PROXY/HTTPS_PROXY point at its outbound port; a pod without a sidecar gets cluster DNS and
kube-proxy's part instead, `pilotfish.cli.cluster_network`), `localhost:15000` (Envoy's admin),
`localhost:15090` and `localhost:15021` reach that pod's Envoy (its sidecar routes them to its own
admin), and `pilot-agent request GET stats` works as in the `istio-proxy` container; there (and in a
pod without a sidecar) `openssl s_client -connect SERVICE:PORT` reaches a pod of the service as
kube-proxy would (`pilotfish.cli.openssl_shim`). As kubectl, the command reads stdin only with `-i`.
POD is named as kubectl names pods (see `pilotfish.cli.pods`). CONTAINER is `istio-proxy` or an app
container (by its name; a pod's one app also by its `app` label or workload name); all see the same
network, as containers of a pod do; an argument naming a file the pod holds (`kubectl cp`, its
mounted volumes) is that file (`pilotfish.cli.pod_copy`). An app container's commands get its
declared `env` too (`exec POD -c NAME -- env`); istio-proxy's get that container's, as Istio's
injector writes it (POD_NAME, SERVICE_ACCOUNT, PROXY_CONFIG, CA_ADDR, TRUST_DOMAIN, ISTIO_META_*:
`local.client.write_proxy_env`).

In an isolated mesh (`up --isolated`) the command runs inside the pod's network namespace (with its
/etc/hosts) and needs no proxy variables: the app container's connections are captured like the
app's; `istio-proxy` runs with the proxy's gid 1337, which capture lets through, as Istio's
container does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pilotfish.agent.service_env import tcp_service_env
from pilotfish.agent.spec import proxy_variables
from pilotfish.capture.rules import PROXY_GID
from pilotfish.cli.cluster_network import ClusterNetwork
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.pod_copy import pod_arguments
from pilotfish.cli.pods import PodNotFound, find_proxy, resolve_pod
from pilotfish.local.client import proxy_env
from pilotfish.registry.images import load_image_map
from pilotfish.state_files import STORE_FILE, write_atomically

PROXY_CONTAINER = "istio-proxy"
PROXY_ALIASES = (PROXY_CONTAINER, "envoy", "proxy")
# Programs of a sample's image that Istio's tasks run in a pod (`kubectl exec FORTIO_POD -c fortio
# -- /usr/bin/fortio load …`) and the host lacks: run as the image map's command for that image.
IMAGE_PROGRAMS = {"fortio": "docker.io/fortio/fortio"}

__all__ = ["container_problem", "exec_command", "find_proxy", "pod_env"]


def container_problem(key: str, proxy: dict[str, Any], container: str | None) -> str | None:
    """kubectl's error when CONTAINER is not one of the pod's containers, else None."""
    if container is None or container in PROXY_ALIASES:
        return None
    apps = app_containers(proxy)
    if proxy.get("type") == "sidecar" and container in apps:
        return None
    choices = " ".join([*(apps if proxy.get("type") == "sidecar" else []), PROXY_CONTAINER])
    return f"container {container} is not valid for pod {key}: choose one of [{choices}]"


def app_containers(proxy: dict[str, Any]) -> list[str]:
    """The names the app containers answer to: each one's own in a pod that names them (a
    Deployment's, a Pod's); the one app of a pod also to its `app` label and workload name."""
    named = [str(n) for n in proxy.get("app_containers") or []]
    if len(named) > 1:
        return named
    names = [*named, str(proxy.get("app") or ""), str(proxy.get("workload") or "")]
    return [n for i, n in enumerate(names) if n and n not in names[:i]]


def declared_env(proxy: dict[str, Any], container: str | None) -> dict[str, str]:
    """The `env` a container declares, resolved for the pod: istio-proxy's as Istio's injector
    writes it, another container of the pod's, else the first app container's."""
    if container in PROXY_ALIASES:
        return proxy_env(proxy)
    if container in (proxy.get("app_containers") or [])[1:]:
        others = (proxy.get("container_env") or {}).get(container) or {}
        return {str(k): str(v) for k, v in others.items()}
    return {str(k): str(v) for k, v in (proxy.get("app_env") or {}).items()}


def pilot_agent_shim(state_dir: Path) -> Path:
    """A `bin/` holding the programs a pod's containers have and the host may lack, for exec's
    PATH: `pilot-agent` (`pilotfish.cli.pilot_agent`) and `nc` (`pilotfish.cli.netcat`)."""
    bin_dir = state_dir / "bin"
    programs = {
        "pilot-agent": "from pilotfish.cli.pilot_agent import main\nsys.exit(main(sys.argv[1:]))",
        "nc": "from pilotfish.cli.netcat import main\n"
        f"sys.exit(main(sys.argv[1:], {str(state_dir)!r}))",
    }
    for name, body in programs.items():
        shim = bin_dir / name
        text = f"#!{sys.executable}\nimport sys\n{body}\n"
        if not shim.exists() or shim.read_text() != text:
            write_atomically(shim, text)
        shim.chmod(0o755)
    return bin_dir


def direct_shim(state_dir: Path) -> Path:
    """A `bin/direct/` for the PATH of commands whose connections kube-proxy, not a sidecar,
    would take (the `istio-proxy` container's, a pod's without a sidecar; local mode only):
    `openssl` (`pilotfish.cli.openssl_shim`)."""
    bin_dir = state_dir / "bin" / "direct"
    shim = bin_dir / "openssl"
    body = (
        "from pilotfish.cli.openssl_shim import main\n"
        f"sys.exit(main(sys.argv[1:], {str(state_dir)!r}, {str(bin_dir)!r}))"
    )
    text = f"#!{sys.executable}\nimport sys\n{body}\n"
    if not shim.exists() or shim.read_text() != text:
        write_atomically(shim, text)
    shim.chmod(0o755)
    return bin_dir


def curl_home(state_dir: Path) -> Path:
    """A `CURL_HOME` whose `.curlrc` says `suppress-connect-headers`: `curl -I`/`-i`/`-D -` of an
    `https://` URL print only the server's response, as in a pod whose traffic is captured,
    not also the sidecar's answer to the CONNECT that `HTTPS_PROXY` makes curl send (`curl -sI
    https://www.google.com | grep HTTP/` gives one line, as on Istio's pages)."""
    home = state_dir / "curl"
    rc = home / ".curlrc"
    text = "suppress-connect-headers\n"
    if not rc.exists() or rc.read_text() != text:
        write_atomically(rc, text)
    return home


def image_program(argv: list[str]) -> tuple[list[str], str | None]:
    """`argv` with a program of `IMAGE_PROGRAMS` the host lacks (`/usr/bin/fortio`) replaced by
    its image's command, and the directory to run it in (None: as given)."""
    image = IMAGE_PROGRAMS.get(os.path.basename(argv[0]))
    entry = load_image_map().resolve(image) if image and not shutil.which(argv[0]) else None
    if entry is None or not entry.command:
        return argv, None
    command = [sys.executable if c in ("python", "python3") else c for c in entry.command]
    return [*command, *argv[1:]], entry.workdir


def pod_env(
    info: dict[str, Any], key: str, proxy: dict[str, Any], container: str | None = None
) -> dict[str, str]:
    """The environment of a process inside the pod's `container` (the app's when None): what
    exec gives every container, then the app container's declared `env` as its process gets
    it (resolved for the pod: the Downward API's values too), or istio-proxy's as Istio's
    injector writes it (`local.client.write_proxy_env`); PATH keeps exec's programs first."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    state_dir = Path(info["state_dir"])
    declared = declared_env(proxy, container)
    shims = [str(pilot_agent_shim(state_dir))]
    if not proxy.get("netns") and (container in PROXY_ALIASES or not proxy.get("sidecar", True)):
        shims.insert(0, str(direct_shim(state_dir)))  # kube-proxy's part: openssl s_client
    path = os.pathsep.join([*shims, declared.get("PATH") or env.get("PATH", os.defpath)])
    if proxy.get("netns"):  # captured: no proxy variables at all
        env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
        if proxy.get("sidecar", True):  # as the istio-proxy container's environment says
            env["ISTIO_META_INTERCEPTION_MODE"] = "REDIRECT"
    else:
        env = {k: v for k, v in env.items() if not k.lower().startswith(("ws_", "wss_"))}
        ws_port = int(proxy.get("ws_proxy_port") or 0)
        env.update(proxy_variables(proxy["ip"], int(proxy["outbound_port"]), ws_port))
        env["CURL_HOME"] = str(curl_home(state_dir))
    env.update(
        POD_NAME=str(proxy.get("instance") or key.split(".")[0]),
        POD_NAMESPACE=proxy["namespace"],
        INSTANCE_IP=proxy["ip"],
        PATH=path,
    )
    container_ports = [int(p) for p in proxy.get("app_ports", {})]
    config_path = state_dir / STORE_FILE
    env.update(tcp_service_env(proxy["ip"], proxy["namespace"], container_ports, config_path))
    return env | {str(k): str(v) for k, v in declared.items()} | {"PATH": path}


def exec_command(
    pod: str,
    argv: list[str],
    state_dir: Path,
    container: str | None = None,
    namespace: str | None = None,
    stdin: bool = False,
) -> int:
    """Run `argv` in the pod; `stdin` (kubectl's `-i`): pass this terminal's input, else the
    command reads none (an `openssl s_client` ends after its handshake, as under kubectl)."""
    if not argv:
        print("error: say what to run: pilotfish exec POD -- CMD [ARGS…]", file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    try:
        key, proxy = resolve_pod(info, pod, namespace)
    except PodNotFound as exc:
        print(f"Error from server (NotFound): {exc}", file=sys.stderr)
        return 1
    problem = container_problem(key, proxy, container)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    group = None
    argv, workdir = image_program(pod_arguments(argv, Path(proxy["run_dir"])))
    if proxy.get("netns"):
        argv = ["ip", "netns", "exec", str(proxy["netns"]), *argv]
        if container in PROXY_ALIASES:
            group = PROXY_GID
    env = pod_env(info, key, proxy, container)
    network = None
    if not proxy.get("sidecar", True) and not proxy.get("netns"):
        network = ClusterNetwork(info, proxy)  # no sidecar: kube-proxy's part, for this command
        env.update(proxy_variables(proxy["ip"], network.port))
    try:
        code = subprocess.call(
            argv, env=env, group=group, cwd=workdir, stdin=None if stdin else subprocess.DEVNULL
        )
    except FileNotFoundError:
        print(f"error: {argv[0]}: command not found", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        return 130
    finally:
        if network is not None:
            network.close()
    if code > 0:  # kubectl's word for it, on stderr (`curl` to a STRICT server: code 56)
        print(f"command terminated with exit code {code}", file=sys.stderr)
    return code
