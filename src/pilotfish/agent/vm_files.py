"""The files a host outside the mesh joins with (Istio's VM integration), in istioctl's names and
formats: what `pilotfish x workload entry configure` writes (`render`, pure) and what
`pilotfish agent` reads back on that host (`load`), with no access to the control plane's state.

- `cluster.env`: `KEY='value'` lines, sorted: every `proxyMetadata` entry, then
  `ISTIO_INBOUND_PORTS` (the template's ports, or `*`), `ISTIO_NAMESPACE`,
  `ISTIO_SERVICE=<group>.<namespace>`, `ISTIO_SERVICE_CIDR=*`,
  `ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15020`, `SERVICE_ACCOUNT` and, with
  `--internalIP`/`--externalIP`, `ISTIO_SVC_IP`.
- `mesh.yaml`: `defaultConfig` (a ProxyConfig): `discoveryAddress`
  (`istiod.istio-system.svc:15012`), `proxyMetadata` (`CANONICAL_SERVICE`,
  `CANONICAL_REVISION`, `POD_NAMESPACE`, `SERVICE_ACCOUNT`, `TRUST_DOMAIN`,
  `ISTIO_META_CLUSTER_ID`, `ISTIO_META_MESH_ID`, `ISTIO_META_NETWORK`, `ISTIO_META_POD_PORTS`,
  `ISTIO_META_WORKLOAD_NAME`, `ISTIO_METAJSON_LABELS`, `ISTIO_META_DNS_CAPTURE`,
  `ISTIO_META_AUTO_REGISTER_GROUP`) and `readinessProbe` (the WorkloadGroup's `probe`).
- `root-cert.pem`: the mesh's trust bundle; `istio-token`: a bootstrap token for the group's
  service account (`pilotfish.ca.tokens`); `hosts`: `<control plane IP> istiod.istio-system.svc`.

Errors: `VmFilesError` names the file (and line) that is missing or malformed.
"""

from __future__ import annotations

import io
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.agent.pod_env import env_assignments
from pilotfish.telemetry.exchange import identity

CLUSTER_ENV, MESH_YAML, ROOT_CERT, TOKEN, HOSTS = (
    "cluster.env",
    "mesh.yaml",
    "root-cert.pem",
    "istio-token",
    "hosts",
)
DISCOVERY_HOST = "istiod.istio-system.svc"
DISCOVERY_PORT = 15012
DEFAULT_CLUSTER_ID = "Kubernetes"
LOCAL_EXCLUDE_PORTS = "22,15090,15021,15020"  # ssh, Envoy's stats, the agent's health + metrics


class VmFilesError(Exception):
    """A file the agent needs is missing or malformed; the message names it."""


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def render(
    group: dict[str, Any],
    *,
    root_pem: str,
    token: str,
    control_plane_ip: str,
    cluster_id: str = DEFAULT_CLUSTER_ID,
    trust_domain: str = "",
    mesh_id: str = "",
    autoregister: bool = False,
    capture_dns: bool = True,
    internal_ip: str = "",
    external_ip: str = "",
) -> dict[str, str]:
    """File name -> content, as istioctl's `x workload entry configure` writes them."""
    name = str(group["metadata"]["name"])
    namespace = str(group["metadata"].get("namespace") or "default")
    spec = dict(group.get("spec") or {})
    template = dict(spec.get("template") or {})
    account = str(template.get("serviceAccount") or "default")
    labels = {
        str(k): str(v) for k, v in dict((spec.get("metadata") or {}).get("labels") or {}).items()
    }
    labels.update({str(k): str(v) for k, v in dict(template.get("labels") or {}).items()})
    canonical = identity(labels, name, namespace)
    metadata = {
        "CANONICAL_SERVICE": canonical.canonical_service,
        "CANONICAL_REVISION": canonical.canonical_revision,
        "POD_NAMESPACE": namespace,
        "SERVICE_ACCOUNT": account,
        "TRUST_DOMAIN": trust_domain,
        "ISTIO_META_CLUSTER_ID": cluster_id,
        "ISTIO_META_MESH_ID": mesh_id,
        "ISTIO_META_NETWORK": str(template.get("network") or ""),
        "ISTIO_META_WORKLOAD_NAME": name,
    }
    ports = dict(template.get("ports") or {})
    if ports:
        pod_ports = [{"name": k, "containerPort": int(v)} for k, v in sorted(ports.items())]
        metadata["ISTIO_META_POD_PORTS"] = json.dumps(pod_ports, separators=(",", ":"))
    labels["service.istio.io/canonical-name"] = canonical.canonical_service
    labels["service.istio.io/canonical-revision"] = canonical.canonical_revision
    metadata["ISTIO_METAJSON_LABELS"] = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    if capture_dns:
        metadata["ISTIO_META_DNS_CAPTURE"] = "true"
    if autoregister:
        metadata["ISTIO_META_AUTO_REGISTER_GROUP"] = name
    proxy_config: dict[str, Any] = {
        "discoveryAddress": f"{DISCOVERY_HOST}:{DISCOVERY_PORT}",
        "proxyMetadata": dict(sorted(metadata.items())),
    }
    if spec.get("probe"):
        proxy_config["readinessProbe"] = spec["probe"]
    env = dict(metadata)
    env.update(
        ISTIO_INBOUND_PORTS=",".join(str(p) for p in ports.values()) or "*",
        ISTIO_NAMESPACE=namespace,
        ISTIO_SERVICE=f"{name}.{namespace}",
        ISTIO_SERVICE_CIDR="*",
        ISTIO_LOCAL_EXCLUDE_PORTS=LOCAL_EXCLUDE_PORTS,
        SERVICE_ACCOUNT=account,
    )
    if internal_ip or external_ip:
        env["ISTIO_SVC_IP"] = internal_ip or external_ip
    if external_ip and not internal_ip:
        env["REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION"] = "true"
    mesh = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump({"defaultConfig": proxy_config}, mesh)
    return {
        CLUSTER_ENV: "".join(f"{k}={_quote(v)}\n" for k, v in sorted(env.items())),
        MESH_YAML: mesh.getvalue(),
        ROOT_CERT: root_pem,
        TOKEN: token,
        HOSTS: f"{control_plane_ip} {DISCOVERY_HOST}\n",
    }


@dataclass(frozen=True)
class VmConfig:
    """What a joining host's agent starts from."""

    env: dict[str, str]  # cluster.env
    proxy_config: dict[str, Any]  # mesh.yaml's defaultConfig
    root_pem: str
    token_path: Path
    hosts: dict[str, str]  # name -> address, from `hosts`

    @property
    def metadata(self) -> dict[str, str]:
        """proxyMetadata, overridden by cluster.env (the environment Istio's agent runs in)."""
        found = {
            str(k): str(v) for k, v in dict(self.proxy_config.get("proxyMetadata") or {}).items()
        }
        return found | self.env

    def discovery(self) -> tuple[str, str, int]:
        """(address to dial, name the server's certificate carries, port)."""
        address = str(
            self.proxy_config.get("discoveryAddress") or f"{DISCOVERY_HOST}:{DISCOVERY_PORT}"
        )
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise VmFilesError(
                f"{MESH_YAML}: defaultConfig.discoveryAddress {address!r} is not HOST:PORT"
            )
        return self.hosts.get(host, host), host, int(port)


def parse_env(text: str, source: str = CLUSTER_ENV) -> dict[str, str]:
    """`KEY=value` lines with shell quoting; blank lines and `#` comments are skipped."""
    env: dict[str, str] = {}
    for number, key, value in env_assignments(text):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise VmFilesError(f"{source}:{number}: {exc}") from None
        if not key or len(words) > 1:
            raise VmFilesError(f"{source}:{number}: expected KEY=VALUE (one shell word)")
        env[key] = words[0] if words else ""
    return env


def parse_hosts(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        for name in words[1:]:
            found.setdefault(name, words[0])
    return found


def _read(folder: Path, name: str) -> str:
    try:
        return (folder / name).read_text()
    except OSError as exc:
        raise VmFilesError(f"{folder / name}: cannot read: {exc.strerror or exc}") from None


def load(folder: Path) -> VmConfig:
    """Read the files `render` wrote. Raises VmFilesError naming the file."""
    env = parse_env(_read(folder, CLUSTER_ENV), str(folder / CLUSTER_ENV))
    try:
        mesh = YAML(typ="safe", pure=True).load(_read(folder, MESH_YAML)) or {}
    except YAMLError as exc:
        raise VmFilesError(f"{folder / MESH_YAML}: not YAML: {exc}") from None
    if not isinstance(mesh, dict) or not isinstance(mesh.get("defaultConfig", {}), dict):
        raise VmFilesError(f"{folder / MESH_YAML}: defaultConfig must be a map")
    root = _read(folder, ROOT_CERT)
    if "BEGIN CERTIFICATE" not in root:
        raise VmFilesError(f"{folder / ROOT_CERT}: no PEM certificate in it")
    if not _read(folder, TOKEN).strip():
        raise VmFilesError(f"{folder / TOKEN}: empty")
    hosts = parse_hosts(_read(folder, HOSTS)) if (folder / HOSTS).exists() else {}
    return VmConfig(env, dict(mesh.get("defaultConfig") or {}), root, folder / TOKEN, hosts)
