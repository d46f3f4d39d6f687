"""`openssl s_client -connect SERVICE:PORT` inside `pilotfish exec`, where kube-proxy would take it.

Istio's pages check a server's TLS from a pod's `istio-proxy` container, whose connections no
capture redirects (the proxy's own uid): "Istio Workload Minimum TLS Version Configuration"
runs `kubectl exec SLEEP -c istio-proxy -- openssl s_client -alpn istio -tls1_3 -connect
httpbin.foo:8000`, "Plug in CA Certificates" `openssl s_client -showcerts -connect
httpbin.foo:8000`. In a cluster the name resolves through cluster DNS to the Service's address
and kube-proxy sends the connection to a ready pod at the target port, where that pod's sidecar
takes it (its inbound mTLS).

The (non-isolated) local mode has neither, so exec puts this program first on the PATH of those
commands (the `istio-proxy` container's, and those of a pod without a sidecar) and it runs the
host's `openssl` with `-connect HOST:PORT` replaced by kube-proxy's choice
(`cluster_network.service_endpoint`), keeping the name the client would have sent as SNI
(`-servername HOST`, unless the command says `-servername` or `-noservername`). Any other command
line, a host that names no service, and an isolated pod (names resolve there) run unchanged.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pilotfish.state_files import STORE_FILE

NAME = "openssl"


def _real_openssl(shim_dir: str) -> str | None:
    """The host's openssl: the first on PATH that is not this shim."""
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d != shim_dir
    )
    return shutil.which(NAME, path=path)


def rewritten(argv: list[str], state_dir: Path, namespace: str) -> list[str]:
    """`argv` (after `openssl`) with an `s_client -connect SERVICE:PORT` pointed where
    kube-proxy would send it; unchanged otherwise. Raises ConnectionRefusedError when the
    service has no ready endpoint."""
    if not argv or argv[0] != "s_client" or "-connect" not in argv[:-1]:
        return argv
    from pilotfish.agent.service_env import registry_services
    from pilotfish.cli.cluster_network import service_endpoint

    at = argv.index("-connect") + 1
    host, _, port = argv[at].rpartition(":")
    if not host or not port.isdigit():
        return argv
    services = registry_services(state_dir / STORE_FILE)
    mesh_file = state_dir / "run" / "mesh.json"
    name = host.strip("[]").rstrip(".")
    address, target = service_endpoint(services, mesh_file, namespace, name, int(port))
    if (address, target) == (name, int(port)):
        return argv
    out = [*argv[:at], f"{address}:{target}", *argv[at + 1 :]]
    if "-servername" not in argv and "-noservername" not in argv:
        out += ["-servername", name]
    return out


def main(argv: list[str], state_dir: str, shim_dir: str) -> int:
    real = _real_openssl(shim_dir)
    if real is None:
        print(f"error: {NAME}: command not found", file=sys.stderr)
        return 127
    namespace = os.environ.get("POD_NAMESPACE", "default")
    try:
        args = rewritten(argv, Path(state_dir), namespace)
    except ConnectionRefusedError as exc:
        print(f"connect: {exc}\nconnect:errno=111", file=sys.stderr)
        return 1
    os.execv(real, [real, *args])
    return 0  # not reached
