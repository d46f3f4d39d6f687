"""An `AgentSpec` written the way Istio's injector writes the `istio-proxy` container: the
environment (`POD_NAME`, `PROXY_CONFIG`, `ISTIO_META_*`, …) and the arguments of
`pilotfish agent`. The inverse of `pilotfish.agent.config.load_agent_config` (a unit test holds
the round trip); the local launcher uses it to start an isolated pod's agent as a process.

Pure: no I/O (the app's environment file is returned as text for the caller to write).
"""

from __future__ import annotations

import json
from pathlib import Path

from pilotfish.agent.pod_env import DEFAULT_CLUSTER_ID, PROBE_PREFIX
from pilotfish.agent.pod_probes import pod_probes
from pilotfish.agent.spec import AgentSpec
from pilotfish.ca.identity import DEFAULT_TRUST_DOMAIN, parse_spiffe_id
from pilotfish.config.proxy_stats import FIELD as STATS_FIELD
from pilotfish.config.proxy_stats import proxy_stats_matcher
from pilotfish.registry.bootstrap_override import OVERRIDE_ENV, OVERRIDE_KEY
from pilotfish.registry.workloads import DEFAULT_GRACE_SECONDS, Probe

GO = (",", ":")  # Go's json.Marshal: no blanks


def envoy_environment(spec: AgentSpec, inherited: dict[str, str]) -> dict[str, str]:
    """What Envoy's `%ENVIRONMENT(NAME)%` reads: the `istio-proxy` container's variables, which
    Envoy inherits from its agent (`agent_environment`, over `inherited`), and the injector's
    `ISTIO_META_MESH_ID` (the trust domain), as Istio's OpenTelemetry access log labels read
    them (samples/open-telemetry/loki/iop.yaml: POD_NAME, POD_NAMESPACE, ISTIO_META_CLUSTER_ID,
    ISTIO_META_MESH_ID)."""
    env = inherited | agent_environment(spec)
    env.setdefault("ISTIO_META_MESH_ID", env.get("TRUST_DOMAIN") or DEFAULT_TRUST_DOMAIN)
    return env


def override_file(run_dir: Path) -> Path:
    """Where a pod's bootstrap override is written for its `pilotfish agent` to read (Istio
    mounts it at `/etc/istio/custom-bootstrap/custom_bootstrap.json`)."""
    return run_dir / OVERRIDE_KEY


def agent_environment(spec: AgentSpec) -> dict[str, str]:
    """The Istio variables that make `pilotfish agent` run `spec` (app aside)."""
    proxy = spec.proxy
    proxy_config = {
        "discoveryAddress": f"{spec.xds_host}:{spec.xds_port}",
        "configPath": str(spec.run_dir),
        "concurrency": spec.concurrency,
        "terminationDrainDuration": f"{spec.termination_drain:g}s",
    }
    if spec.hold_application:
        proxy_config["holdApplicationUntilProxyStarts"] = True
    if spec.stats_inclusion is not None:
        proxy_config[STATS_FIELD] = proxy_stats_matcher(spec.stats_inclusion)
    env = {
        "POD_NAME": proxy.instance,
        "POD_NAMESPACE": proxy.namespace,
        "INSTANCE_IP": proxy.ip,
        "SERVICE_ACCOUNT": proxy.service_account,
        "PROXY_CONFIG": json.dumps(proxy_config),
        "ISTIO_META_INTERCEPTION_MODE": "REDIRECT" if proxy.captured else "NONE",
        "ISTIO_META_WORKLOAD_NAME": proxy.workload,
        "ISTIO_METAJSON_LABELS": json.dumps(dict(proxy.labels)),
        "ISTIO_META_CLUSTER_ID": DEFAULT_CLUSTER_ID,
    }
    for key, value in spec.extra_metadata:
        if key != "LABELS":
            name = f"ISTIO_META_{key}" if isinstance(value, str) else f"ISTIO_METAJSON_{key}"
            env[name] = value if isinstance(value, str) else json.dumps(value)
    if proxy.app_ports:
        ports = [{"containerPort": port, "protocol": "TCP"} for port, _ in proxy.app_ports]
        env["ISTIO_META_POD_PORTS"] = json.dumps(ports)
    if spec.delta:
        env["ISTIO_DELTA_XDS"] = "true"
    if spec.bootstrap_override:  # the file the pod's launcher writes (`override_file`)
        env[OVERRIDE_ENV] = str(override_file(spec.run_dir))
    if spec.identity is not None:
        identity = spec.identity
        env["CA_ADDR"] = identity.ca_address
        parsed = parse_spiffe_id(identity.uri)
        if parsed is not None:
            env["TRUST_DOMAIN"] = parsed.trust_domain
        if identity.ttl_seconds:
            env["SECRET_TTL"] = f"{identity.ttl_seconds}s"
        env.update(_key_variables(identity.key_algorithm))
    probes = [p for p in pod_probes(spec) if p.rewritable]
    if probes and spec.rewrite_probes:  # every container's, as the injector writes them
        merged = {path: prober for p in probes for path, prober in app_probers(p).items()}
        env["ISTIO_KUBE_APP_PROBERS"] = json.dumps(dict(sorted(merged.items())), separators=GO)
    if spec.app_metrics is not None:
        scrape = {"scrape": "true", "port": str(spec.app_metrics.port)}
        env["ISTIO_PROMETHEUS_ANNOTATIONS"] = json.dumps(scrape | {"path": spec.app_metrics.path})
    return env


def _key_variables(algorithm: str) -> dict[str, str]:
    """`EC` / `EC-P384` / `RSA-<bits>` as Istio's ECC_SIGNATURE_ALGORITHM, ECC_CURVE and
    WORKLOAD_RSA_KEY_SIZE."""
    if algorithm.startswith("EC"):
        curve = {"ECC_CURVE": "P384"} if algorithm == "EC-P384" else {}
        return {"ECC_SIGNATURE_ALGORITHM": "ECDSA"} | curve
    size = algorithm.partition("-")[2]
    return {"WORKLOAD_RSA_KEY_SIZE": size} if size else {}


def app_probers(probe: Probe) -> dict[str, object]:
    """ISTIO_KUBE_APP_PROBERS for one of a container's probes (httpGet, tcpSocket or grpc), as
    the injector writes it (`DumpAppProbers`: the action, a named port resolved, and
    `timeoutSeconds`; the kubelet keeps the rest of the probe's timing)."""
    action: dict[str, object] = {"port": probe.port}  # Go's field order: path, port, scheme
    if probe.kind == "http":
        action = {"path": probe.path, "port": probe.port, "scheme": probe.scheme}
        if probe.headers:
            action["httpHeaders"] = [{"name": n, "value": v} for n, v in probe.headers]
    if probe.kind == "grpc" and probe.service:
        action["service"] = probe.service
    kind = {"http": "httpGet", "tcp": "tcpSocket", "grpc": "grpc"}[probe.kind]
    path = f"{PROBE_PREFIX}{probe.container}/{probe.endpoint}"
    return {path: {kind: action, "timeoutSeconds": probe.timeout_seconds}}


def agent_arguments(spec: AgentSpec, app_env_file: Path | None) -> list[str]:
    """`pilotfish agent`'s arguments for `spec`: proxy type, log levels, token, and the app."""
    args = ["proxy", spec.proxy.type.value, "--proxyLogLevel", spec.envoy_log_level]
    if spec.envoy_component_log_level:
        args += ["--proxyComponentLogLevel", spec.envoy_component_log_level]
    if spec.identity is not None:
        args += ["--token-path", str(spec.identity.token_path)]
    if spec.app is not None:
        if app_env_file is not None:
            args += ["--app-env-file", str(app_env_file)]
        if spec.restart_policy != "Always":
            args += ["--restart-policy", spec.restart_policy]
        if spec.termination_grace != DEFAULT_GRACE_SECONDS:
            args += ["--termination-grace", str(spec.termination_grace)]
        if spec.app.name:
            args += ["--app-container", spec.app.name]
        args += ["--app-dir", spec.app.workdir, "--", *spec.app.command]
    return args


def env_file_text(env: dict[str, str]) -> str:
    """An app environment for `--app-env-file` (JSON: any value survives, newlines included)."""
    return json.dumps(env, indent=1, sort_keys=True) + "\n"
