"""`pilotfish exec WORKLOAD -- CMD…`: run a command as if inside a workload.

The command's outbound HTTP goes through that workload's sidecar (HTTP_PROXY/http_proxy point at
its outbound port), the local analogue of `kubectl exec`. WORKLOAD is an instance name
(`reviews-v2-0`) or a workload name (`reviews-v2`, first instance).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pilotfish.agent.service_env import tcp_service_env
from pilotfish.cli.errors import running_mesh
from pilotfish.state_files import STORE_FILE


def find_proxy(
    info: dict[str, Any], name: str, namespace: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """The proxy named as istioctl users name pods: `reviews-v2-0`, `reviews-v2`, or either
    with `.NAMESPACE` (as `proxy-status` prints it); `namespace` (`-n`) narrows the search."""
    proxies: dict[str, dict[str, Any]] = info.get("proxies", {})
    if name in proxies and namespace in (None, proxies[name].get("namespace")):
        return name, proxies[name]
    wanted = {(name, namespace)}
    if "." in name:
        short, _, suffix = name.partition(".")
        if namespace in (None, suffix):
            wanted.add((short, suffix))
    for instance, proxy in sorted(proxies.items()):
        for short, ns in wanted:
            if ns not in (None, proxy.get("namespace")):
                continue
            if proxy.get("workload") == short or instance.split(".")[0] == short:
                return instance, proxy
    return None


def exec_command(workload: str, argv: list[str], state_dir: Path) -> int:
    if not argv:
        print("error: say what to run: pilotfish exec WORKLOAD -- CMD [ARGS…]", file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    found = find_proxy(info, workload)
    if found is None or found[1].get("type") != "sidecar":
        known = ", ".join(
            n for n, p in info.get("proxies", {}).items() if p.get("type") == "sidecar"
        )
        print(f"error: no workload {workload!r} in this mesh (known: {known})", file=sys.stderr)
        return 1
    instance, proxy = found
    outbound = f"http://{proxy['ip']}:{proxy['outbound_port']}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    env.update(
        HTTP_PROXY=outbound,
        http_proxy=outbound,
        HTTPS_PROXY=outbound,
        https_proxy=outbound,
        POD_NAME=instance,
        POD_NAMESPACE=proxy["namespace"],
    )
    container_ports = [int(p) for p in proxy.get("app_ports", {})]
    config_path = Path(info["state_dir"]) / STORE_FILE
    env.update(tcp_service_env(proxy["ip"], proxy["namespace"], container_ports, config_path))
    try:
        return subprocess.call(argv, env=env)
    except FileNotFoundError:
        print(f"error: {argv[0]}: command not found", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        return 130
