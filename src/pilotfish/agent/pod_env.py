"""What Kubernetes and Istio's injector hand a pod's agent, decoded: the `ISTIO_META_*` and
`ISTIO_METAJSON_*` node metadata, `ISTIO_META_POD_PORTS`, `ISTIO_KUBE_APP_PROBERS` (the
rewritten probes), `ISTIO_PROMETHEUS_ANNOTATIONS`, `--proxyLogLevel`'s two parts, and
the app container (its command, env file and folder). `pilotfish.agent.config` puts them
together; every mistake raises `AgentConfigError` naming the variable, flag or file. Pure but
for reading the app's env file and checking its folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pilotfish.agent.metrics import PATH_ANNOTATION, PORT_ANNOTATION, SCRAPE_ANNOTATION, app_scrape
from pilotfish.agent.spec import AppSpec
from pilotfish.registry.annotation_support import envoy_log_levels
from pilotfish.registry.workloads import Probe

DEFAULT_CLUSTER_ID = "Kubernetes"
PROBE_PREFIX = "/app-health/"
ENDPOINTS = ("readyz", "livez", "startupz")
HANDLERS = {"httpGet": "http", "tcpSocket": "tcp", "grpc": "grpc"}


class AgentConfigError(Exception):
    """A bad flag, environment variable or file (the message says which)."""


def json_value(env: Mapping[str, str], name: str) -> Any:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AgentConfigError(f"{name}: not JSON: {exc}") from None


def json_map(env: Mapping[str, str], name: str) -> dict[str, str]:
    data = json_value(env, name) or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise AgentConfigError(f'{name}: expected a JSON object of strings, e.g. {{"app": "x"}}')
    return {str(k): v for k, v in data.items()}


def pod_ports(text: str) -> list[int]:
    """ISTIO_META_POD_PORTS: `[{"containerPort": 9080, "protocol": "TCP"}, …]`."""
    data = json_value({"ISTIO_META_POD_PORTS": text}, "ISTIO_META_POD_PORTS") or []
    ports: list[int] = []
    for i, entry in enumerate(data if isinstance(data, list) else [None]):
        port = entry.get("containerPort") if isinstance(entry, dict) else None
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise AgentConfigError(f"ISTIO_META_POD_PORTS[{i}].containerPort: a port is needed")
        ports.append(port)
    return ports


def log_levels(level: str, component: str) -> tuple[str, str]:
    """`--proxyLogLevel warning,misc:error` → Envoy's `--log-level` and
    `--component-log-level` (with `--proxyComponentLogLevel` added)."""
    try:
        return envoy_log_levels(level, component)
    except ValueError as exc:
        raise AgentConfigError(f"--proxyLogLevel: {exc}") from None


def node_metadata(env: Mapping[str, str]) -> tuple[tuple[str, Any], ...]:
    """`ISTIO_META_X=v` → node metadata `X: "v"`; `ISTIO_METAJSON_X` → `X:` the JSON value."""
    found: dict[str, Any] = {"CLUSTER_ID": DEFAULT_CLUSTER_ID}
    for name, value in env.items():
        if name.startswith("ISTIO_METAJSON_"):
            found[name.removeprefix("ISTIO_METAJSON_")] = json_value(env, name)
        elif name.startswith("ISTIO_META_") and name != "ISTIO_META_POD_PORTS":
            found[name.removeprefix("ISTIO_META_")] = value
    return tuple(sorted(found.items()))


def app_metrics(env: Mapping[str, str], app_ports: tuple[tuple[int, int], ...]) -> Any:
    """ISTIO_PROMETHEUS_ANNOTATIONS `{"scrape": "true", "port": "9080", "path": "/metrics"}`."""
    data = json_map(env, "ISTIO_PROMETHEUS_ANNOTATIONS")
    keys = {"scrape": SCRAPE_ANNOTATION, "port": PORT_ANNOTATION, "path": PATH_ANNOTATION}
    return app_scrape({keys[k]: v for k, v in data.items() if k in keys}, app_ports)


def probers(text: str) -> tuple[Probe, ...]:
    """Every `/app-health/<container>/<readyz|livez|startupz>` entry of ISTIO_KUBE_APP_PROBERS
    (httpGet, tcpSocket or grpc, as Istio's status server takes them), by path."""
    found: list[Probe] = []
    name = "ISTIO_KUBE_APP_PROBERS"
    data = json_value({name: text}, name) or {}
    if not isinstance(data, dict):
        raise AgentConfigError(f"{name}: expected a JSON object keyed by /app-health/… paths")
    for path, prober in sorted(data.items()):
        container, _, endpoint = path.removeprefix(PROBE_PREFIX).partition("/")
        if not path.startswith(PROBE_PREFIX) or endpoint not in ENDPOINTS or not container:
            continue
        if not isinstance(prober, dict):
            raise AgentConfigError(f"{name}[{path}]: expected an object")
        timeout = prober.get("timeoutSeconds", 1)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise AgentConfigError(f"{name}[{path}].timeoutSeconds: a whole number from 1")
        kinds = [k for k in HANDLERS if isinstance(prober.get(k), dict)]
        action: dict[str, Any] = prober[kinds[0]] if len(kinds) == 1 else {}
        port = action.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise AgentConfigError(
                f"{name}[{path}]: one of httpGet, tcpSocket or grpc with a port needed"
            )
        common = {"timeout_seconds": timeout, "endpoint": endpoint}
        if kinds[0] != "httpGet":
            service = str(action.get("service") or "")
            found.append(Probe(container, HANDLERS[kinds[0]], port, service=service, **common))
            continue
        headers = tuple(
            (str(h.get("name", "")), str(h.get("value", "")))
            for h in action.get("httpHeaders") or []
            if isinstance(h, dict)
        )
        found.append(Probe(
            container,
            "http",
            port,
            path=str(action.get("path") or "/"),
            scheme=str(action.get("scheme") or "HTTP").upper(),
            headers=headers,
            **common,
        ))  # fmt: skip
    return tuple(found)


def app_spec(command: list[str], env_file: str, workdir: str, name: str = "") -> AppSpec | None:
    if not command:
        if env_file or workdir:
            raise AgentConfigError("--app-env-file and --app-dir need an app: -- CMD [ARGS…]")
        return None
    env = read_env_file(Path(env_file)) if env_file else {}
    folder = Path(workdir or ".").absolute()
    if not folder.is_dir():
        raise AgentConfigError(f"--app-dir {workdir}: not a directory")
    return AppSpec(tuple(command), tuple(sorted(env.items())), str(folder), name=name)


def env_assignments(text: str) -> Iterator[tuple[int, str, str]]:
    """The `[export ]KEY=value` lines of an env file: (line number, key, raw value), skipping
    blank lines and `#` comments; the key is "" where the line is no assignment of a name.
    Each reader decodes the value its own way (one pair of quotes here, shell words in
    `cluster.env`)."""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        yield number, key if sep and key.isidentifier() else "", value.strip()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (`#` comments, blank lines, optional quotes), or one JSON object."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise AgentConfigError(f"--app-env-file {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        return json_map({"--app-env-file": text}, "--app-env-file")
    env: dict[str, str] = {}
    for number, key, value in env_assignments(text):
        if not key:
            raise AgentConfigError(f"{path}:{number}: expected KEY=VALUE")
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env
