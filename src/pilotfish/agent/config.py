"""`pilotfish agent`'s configuration: Istio's pilot-agent flags and environment → an `AgentSpec`.

The one place that knows how the agent process is configured (`load_agent_config`); the process
itself is `pilotfish.agent.run`. Names and defaults are Istio's (`pilot-agent proxy`):

- flags: `proxy` and `sidecar|router` (positional, optional), `--meshConfig` (a MeshConfig file,
  default `./etc/istio/config/mesh`), `--proxyLogLevel` (`warning,misc:error`),
  `--proxyComponentLogLevel`, `--concurrency`, `--domain`, `--log_output_level`;
- ProxyConfig: the file's `defaultConfig`, then `PROXY_CONFIG` (YAML or JSON) field by field over
  it: `discoveryAddress` (default `istiod.istio-system.svc:15012`), `configPath` (where the
  bootstrap and logs go, default `./etc/istio/proxy`), `concurrency` (2),
  `terminationDrainDuration`, and `proxyMetadata`, whose entries act as environment variables;
- environment: `POD_NAME` (default: the host name, as on a VM), `POD_NAMESPACE` (`default`),
  `INSTANCE_IP` (default: the address this host uses to reach the discovery address),
  `SERVICE_ACCOUNT` (`default`), `TRUST_DOMAIN` (`cluster.local`), `CA_ADDR` (default: the
  discovery address), `PILOT_CERT_PROVIDER` (`istiod`; which root certificate verifies the
  control plane over TLS), `ISTIO_META_*` (node metadata: `CLUSTER_ID` defaults to
  `Kubernetes`; `INTERCEPTION_MODE` is `REDIRECT`, or `NONE` for pilotfish's explicit mode where
  apps use the sidecar as HTTP proxy; `WORKLOAD_NAME`; `POD_PORTS`), `ISTIO_METAJSON_LABELS`,
  `ISTIO_KUBE_APP_PROBERS` (the injector's rewritten probes),
  `ISTIO_PROMETHEUS_ANNOTATIONS` (the app's metrics, merged into 15020), `SECRET_TTL`,
  `ECC_SIGNATURE_ALGORITHM`, `ECC_CURVE`, `WORKLOAD_RSA_KEY_SIZE`,
  `TERMINATION_DRAIN_DURATION_SECONDS`, `ISTIO_DELTA_XDS`.

pilotfish's own flags, for what Kubernetes does outside Istio's agent: `--token-path` (the
bearer token for the CA, Istio's `./var/run/secrets/tokens/istio-token`), and the app container
it supervises: `-- CMD ARGS…`, its environment `--app-env-file` (KEY=VALUE lines, or a JSON
object), working directory `--app-dir`, the pod's `--restart-policy` (Always, OnFailure or
Never: whether it restarts once it exits), `--termination-grace` (its
terminationGracePeriodSeconds: how long the app has between SIGTERM and SIGKILL when it stops)
and `--app-container` (the app container's name, for the kubelet's messages).

On a host outside the mesh (Istio's VM layout in the working folder: `cluster.env`,
`./etc/certs/root-cert.pem`), `pilotfish.agent.vm_start` adds what Istio's VM start does: the
environment from cluster.env, that root, and TLS with the token to the control plane.

Every mistake raises `AgentConfigError` with a message naming the flag, variable or file. The
injector's variables and the app container are decoded in `pilotfish.agent.pod_env`.
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.agent.identity import IdentitySpec
from pilotfish.agent.pod_env import (
    AgentConfigError,
    app_metrics,
    app_spec,
    json_map,
    log_levels,
    node_metadata,
    pod_ports,
    probers,
)
from pilotfish.agent.spec import AgentSpec
from pilotfish.agent.vm_files import VmFilesError
from pilotfish.agent.vm_start import control_plane_tls, resolve, vm_root_cert, with_cluster_env
from pilotfish.ca.certs import key_algorithm
from pilotfish.ca.identity import DEFAULT_TRUST_DOMAIN, spiffe_id
from pilotfish.config.proxy_metadata import parse_proxy_metadata
from pilotfish.config.proxy_stats import stats_matcher_in
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.bootstrap_override import OVERRIDE_ENV, override_json
from pilotfish.registry.drain import (
    drain_in_proxy_config,
    env_drain_seconds,
    hold_in_proxy_config,
    termination_drain,
)
from pilotfish.registry.workloads import DEFAULT_GRACE_SECONDS, RESTART_POLICIES

log = logging.getLogger("pilotfish.agent")

DEFAULT_MESH_CONFIG = "./etc/istio/config/mesh"
DEFAULT_DISCOVERY = "istiod.istio-system.svc:15012"
DEFAULT_CONFIG_PATH = "./etc/istio/proxy"
DEFAULT_TOKEN = "./var/run/secrets/tokens/istio-token"
DEFAULT_CONCURRENCY = 2
ROOT_CERTS = {  # PILOT_CERT_PROVIDER -> the root certificate that verifies the control plane
    "istiod": "./var/run/secrets/istio/root-cert.pem",
    "kubernetes": "./var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    "custom": "./etc/certs/root-cert.pem",
    "none": "",
}
INTERCEPTION = {"REDIRECT": "REDIRECT", "NONE": ""}  # Istio's mode -> Proxy.interception


@dataclass(frozen=True)
class AgentConfig:
    """What the agent process runs (`spec`), and what it was told that the spec does not hold."""

    spec: AgentSpec
    log_level: str = "info"  # the agent's own log (Istio's --log_output_level)
    xds_root_cert: Path | None = None  # PILOT_CERT_PROVIDER's root, for a TLS discovery address
    proxy_config: dict[str, Any] = field(default_factory=dict)  # the effective ProxyConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise AgentConfigError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="pilotfish agent", add_help=False)
    parser.add_argument("words", nargs="*")
    parser.add_argument("--meshConfig", default=DEFAULT_MESH_CONFIG)
    parser.add_argument("--proxyLogLevel", default="warning,misc:error")
    parser.add_argument("--proxyComponentLogLevel", default="")
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--domain", default="")
    parser.add_argument("--log_output_level", default="default:info")
    parser.add_argument("--token-path", default=DEFAULT_TOKEN)
    parser.add_argument("--app-env-file", default="")
    parser.add_argument("--app-dir", default="")
    parser.add_argument("--restart-policy", default="Always", choices=RESTART_POLICIES)
    parser.add_argument("--termination-grace", type=int, default=DEFAULT_GRACE_SECONDS)
    parser.add_argument("--app-container", default="")
    return parser


def load_agent_config(argv: Sequence[str], environ: Mapping[str, str]) -> AgentConfig:
    """`argv` (what follows `pilotfish agent`; the app's command after `--`) and the process
    environment → the agent's config. Raises AgentConfigError."""
    argv = list(argv)
    app_command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, app_command = argv[:at], argv[at + 1 :]
    args = _parser().parse_args(argv)
    try:  # a host outside the mesh: Istio's VM layout (`pilotfish.agent.vm_start`)
        environ = with_cluster_env(environ)
    except VmFilesError as exc:
        raise AgentConfigError(str(exc)) from None
    kind = _proxy_type(args.words)
    mesh_file = Path(args.meshConfig)
    if args.meshConfig != DEFAULT_MESH_CONFIG and not mesh_file.is_file():
        raise AgentConfigError(f"--meshConfig {mesh_file}: no such file")
    proxy_config = _proxy_config(mesh_file, environ.get("PROXY_CONFIG", ""))
    env = dict(environ) | _metadata_env(proxy_config)
    discovery = str(proxy_config.get("discoveryAddress") or DEFAULT_DISCOVERY)
    xds_host, xds_port = _host_port(discovery, "ProxyConfig.discoveryAddress")
    namespace = env.get("POD_NAMESPACE") or "default"
    service_account = env.get("SERVICE_ACCOUNT") or "default"
    ports = pod_ports(env.get("ISTIO_META_POD_PORTS", ""))
    mode = env.get("ISTIO_META_INTERCEPTION_MODE") or "REDIRECT"
    if mode not in INTERCEPTION:
        raise AgentConfigError(
            f"ISTIO_META_INTERCEPTION_MODE={mode!r}: pilotfish supports REDIRECT or NONE"
        )
    proxy = Proxy(
        type=kind,
        ip=env.get("INSTANCE_IP") or _local_address(xds_host, xds_port),
        instance=env.get("POD_NAME") or socket.gethostname(),
        namespace=namespace,
        labels=tuple(sorted(json_map(env, "ISTIO_METAJSON_LABELS").items())),
        workload=env.get("ISTIO_META_WORKLOAD_NAME", ""),
        service_account=service_account,
        app_ports=tuple((p, p) for p in ports),
        interception=INTERCEPTION[mode] if kind is ProxyType.SIDECAR else "",
    )
    errors: list[tuple[str, str]] = []
    metadata = parse_proxy_metadata(env, "environment", errors)
    drain = drain_in_proxy_config(proxy_config, "ProxyConfig", errors)
    hold = hold_in_proxy_config(proxy_config, "ProxyConfig", errors) or False
    stats = stats_matcher_in(proxy_config, "ProxyConfig", errors)
    if errors:
        raise AgentConfigError("; ".join(f"{where}: {what}" for where, what in errors))
    token = Path(args.token_path)
    if not token.is_file():
        raise AgentConfigError(f"--token-path {token}: no token file there (the CA needs it)")
    trust_domain = env.get("TRUST_DOMAIN") or DEFAULT_TRUST_DOMAIN
    ca_address = env.get("CA_ADDR") or discovery
    ca_host, ca_port = _host_port(ca_address, "CA_ADDR")
    provider = env.get("PILOT_CERT_PROVIDER") or "istiod"
    if provider not in ROOT_CERTS:
        raise AgentConfigError(f"PILOT_CERT_PROVIDER={provider!r}: one of {', '.join(ROOT_CERTS)}")
    root = vm_root_cert() or (
        Path(ROOT_CERTS[provider]).absolute() if ROOT_CERTS[provider] else None
    )
    known_root = root if root is not None and root.is_file() else None
    xds_tls = control_plane_tls(xds_host, xds_port, known_root, token.absolute())
    ca_tls = control_plane_tls(ca_host, ca_port, known_root, token.absolute())
    if ca_tls is not None:  # dial the address, verify the name
        ca_address = f"{_resolved(ca_host, 'CA_ADDR')}:{ca_port}"
    identity = IdentitySpec(
        ca_address=ca_address,
        token_path=token.absolute(),
        uri=spiffe_id(trust_domain, namespace, service_account),
        ttl_seconds=metadata.secret_ttl_seconds or 0,
        key_algorithm=key_algorithm(metadata.key_algorithm),
        tls=ca_tls,
    )
    probes = probers(env.get("ISTIO_KUBE_APP_PROBERS", ""))  # every container's: it serves each
    own = next((p for p in probes if p.endpoint == "readyz"), None)  # its app's readiness
    level, components = log_levels(args.proxyLogLevel, args.proxyComponentLogLevel)
    concurrency = args.concurrency or _int(proxy_config, "concurrency", DEFAULT_CONCURRENCY)
    if concurrency < 1:
        raise AgentConfigError(f"--concurrency {concurrency}: must be at least 1")
    spec = AgentSpec(
        proxy=proxy,
        xds_host=_resolved(xds_host, "discoveryAddress") if xds_tls else xds_host,
        xds_port=xds_port,
        run_dir=Path(str(proxy_config.get("configPath") or DEFAULT_CONFIG_PATH)).absolute(),
        app=app_spec(app_command, args.app_env_file, args.app_dir, args.app_container),
        delta=env.get("ISTIO_DELTA_XDS", "").lower() == "true",
        envoy_log_level=level,
        envoy_component_log_level=components,
        concurrency=concurrency,
        app_metrics=app_metrics(env, proxy.app_ports),
        identity=identity,
        termination_drain=termination_drain(drain, None, env_drain_seconds(env)),
        readiness=own,
        served_probes=tuple(p for p in probes if p is not own),
        extra_metadata=(*node_metadata(env), ("PROXY_CONFIG", proxy_config)),
        control_plane_tls=xds_tls,
        bootstrap_override=_bootstrap_override(env),
        restart_policy=args.restart_policy,
        termination_grace=args.termination_grace,
        hold_application=hold,
        stats_inclusion=stats,
    )
    own_level = args.log_output_level.rpartition(":")[2] or "info"
    return AgentConfig(spec, own_level, root, proxy_config)


def _bootstrap_override(env: Mapping[str, str]) -> str:
    """`ISTIO_BOOTSTRAP_OVERRIDE`'s file as Envoy's `--config-yaml`; as pilot-agent, a file
    that cannot be read or converted is logged and Envoy starts without it."""
    path = env.get(OVERRIDE_ENV, "")
    if not path:
        return ""
    try:
        return override_json(Path(path).read_text(), env.get("HOST_IP", ""))
    except (OSError, ValueError) as exc:
        log.warning("Failed to read bootstrap override: %s: %s", path, exc)
        return ""


def _proxy_type(words: list[str]) -> ProxyType:
    """Istio's `proxy [sidecar|router]`; both words are optional here."""
    rest = words[1:] if words[:1] == ["proxy"] else words
    if len(rest) > 1:
        extra = " ".join(rest[1:])
        raise AgentConfigError(f"unexpected arguments {extra!r} (an app's command goes after --)")
    name = rest[0] if rest else "sidecar"
    try:
        return ProxyType(name)
    except ValueError:
        raise AgentConfigError(f"proxy type {name!r}: sidecar or router") from None


def _load_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise AgentConfigError(f"{where}: not YAML or JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AgentConfigError(f"{where}: must be a map")
    return data


def _proxy_config(mesh_file: Path, env_text: str) -> dict[str, Any]:
    """The mesh file's `defaultConfig`, then PROXY_CONFIG's fields over it (Istio's order)."""
    config: dict[str, Any] = {}
    if mesh_file.is_file():
        try:
            mesh = _load_yaml(mesh_file.read_text(), f"--meshConfig {mesh_file}")
        except OSError as exc:
            raise AgentConfigError(f"--meshConfig {mesh_file}: {exc.strerror}") from None
        default = mesh.get("defaultConfig") or {}
        if not isinstance(default, dict):
            raise AgentConfigError(f"--meshConfig {mesh_file}: defaultConfig must be a map")
        config.update(default)
    if env_text.strip():
        config.update(_load_yaml(env_text, "PROXY_CONFIG"))
    return config


def _metadata_env(proxy_config: Mapping[str, Any]) -> dict[str, str]:
    raw = proxy_config.get("proxyMetadata") or {}
    if not isinstance(raw, dict):
        raise AgentConfigError("ProxyConfig.proxyMetadata: must be a map of strings")
    return {str(k): str(v) for k, v in raw.items()}


def _int(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise AgentConfigError(f"ProxyConfig.{key}: {value!r} is not a whole number")
    return int(value)


def _host_port(address: str, where: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AgentConfigError(f"{where} {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _resolved(host: str, where: str) -> str:
    try:
        return resolve(host)
    except OSError as exc:
        raise AgentConfigError(f"{where}: cannot resolve {host!r}: {exc}") from None


def _local_address(host: str, port: int) -> str:
    """The address this host would use to reach host:port (INSTANCE_IP's default)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))  # UDP: picks a route, sends nothing
            return str(probe.getsockname()[0])
    except OSError as exc:
        raise AgentConfigError(
            f"INSTANCE_IP is not set and {host} cannot be reached to find it: {exc}"
        ) from None
