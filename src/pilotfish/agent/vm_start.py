"""`pilotfish agent` on a host outside the mesh (Istio's VM integration), started in a folder laid
out as Istio's VM guide lays out `/` (the files `x workload entry configure` wrote), with no
access to the control plane's state directory:

- `./var/lib/istio/envoy/cluster.env` is read into the environment, as Istio's `istio-start.sh`
  sources it (its values win over the process environment's);
- `./etc/istio/config/mesh` is the mesh config (`--meshConfig`'s default already);
- `./etc/certs/root-cert.pem`, when it exists, is the root that verifies the control plane
  (Istio's agent looks there first: the VM case), whatever `PILOT_CERT_PROVIDER` says;
- `./var/run/secrets/tokens/istio-token` is the bearer token (`--token-path`'s default).

With a root and a discovery port other than plaintext 15010, the agent reaches the control plane
over TLS (`ControlPlaneTls`): the CA, its own health stream, and Envoy's ADS stream, whose address
is the discovery host resolved here (through /etc/hosts, where the guide appends `hosts`).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

from pilotfish.agent.upstream import ControlPlaneTls
from pilotfish.agent.vm_files import VmFilesError, parse_env

CLUSTER_ENV = Path("var/lib/istio/envoy/cluster.env")
VM_ROOT_CERT = Path("etc/certs/root-cert.pem")
PLAINTEXT_PORT = 15010


def with_cluster_env(environ: Mapping[str, str], folder: Path = Path(".")) -> dict[str, str]:
    """`environ` with the VM's cluster.env over it, if the folder has one. Raises VmFilesError
    naming the file and line of a malformed one."""
    path = folder / CLUSTER_ENV
    if not path.is_file():
        return dict(environ)
    try:
        text = path.read_text()
    except OSError as exc:
        raise VmFilesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return dict(environ) | parse_env(text, str(path))


def vm_root_cert(folder: Path = Path(".")) -> Path | None:
    path = folder / VM_ROOT_CERT
    return path.absolute() if path.is_file() else None


def control_plane_tls(
    host: str, port: int, root: Path | None, token: Path
) -> ControlPlaneTls | None:
    """TLS to the control plane unless it is the plaintext port or no root is known."""
    if root is None or port == PLAINTEXT_PORT:
        return None
    return ControlPlaneTls(root, host, token)


def resolve(host: str) -> str:
    """An IPv4 address for `host` (through /etc/hosts first); `host` itself if it is one.
    Raises OSError when it cannot be resolved."""
    return str(socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
