"""Istio's `terminationDrainDuration`: how long a sidecar drains before its pod's processes stop.

Where it comes from, first match wins (as Istio's pilot-agent):
1. the pod annotation `proxy.istio.io/config` (ProxyConfig as YAML or JSON), field
   `terminationDrainDuration` (a duration, e.g. "1s");
2. the mesh config's `defaultConfig.terminationDrainDuration`;
3. the agent's environment `TERMINATION_DRAIN_DURATION_SECONDS` (whole seconds, the older
   pilot-agent setting; tests use it to keep `pilotfish down` fast);
4. 5 s.

Pure apart from `env_drain_seconds`, which reads the environment it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML, YAMLError

from pilotfish.config.durations import parse_duration
from pilotfish.config.mesh_security import trusted_proxies_in
from pilotfish.config.proxy_metadata import PROXY_CONFIG_ANNOTATION
from pilotfish.config.proxy_stats import (
    NOT_SET,
    StatsInclusion,
    annotation_inclusion,
    stats_matcher_in,
)
from pilotfish.config.proxy_tracing import ProxyTracing, parse_proxy_tracing

DRAIN_FIELD = "terminationDrainDuration"
DRAIN_ENV = "TERMINATION_DRAIN_DURATION_SECONDS"
DEFAULT_DRAIN_SECONDS = 5.0
MAX_DRAIN_SECONDS = 3600.0


def drain_in_proxy_config(config: Any, where: str, errors: list[tuple[str, str]]) -> float | None:
    """`terminationDrainDuration` of a ProxyConfig map, or None when it is not set."""
    if not isinstance(config, dict) or DRAIN_FIELD not in config:
        return None
    text = config[DRAIN_FIELD]
    try:
        seconds = parse_duration(str(text))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_DRAIN_SECONDS:
        errors.append((f"{where}.{DRAIN_FIELD}", f"{text!r} is not a duration from 0s to 1h"))
        return None
    return seconds


ANNOTATION_PATH = f"metadata.annotations[{PROXY_CONFIG_ANNOTATION}]"


def annotation_proxy_config(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """A pod's `proxy.istio.io/config` annotation as a map (None: not set, or not a map)."""
    text = annotations.get(PROXY_CONFIG_ANNOTATION)
    if text is None:
        return None
    try:
        config = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        errors.append((ANNOTATION_PATH, f"is not YAML or JSON: {exc}"))
        return None
    if config is not None and not isinstance(config, dict):
        errors.append((ANNOTATION_PATH, "must be a map (ProxyConfig)"))
        return None
    return config


def annotation_drain(annotations: Mapping[str, str], errors: list[tuple[str, str]]) -> float | None:
    """The drain a pod's `proxy.istio.io/config` annotation sets (None: not set)."""
    config = annotation_proxy_config(annotations, errors)
    return None if config is None else drain_in_proxy_config(config, ANNOTATION_PATH, errors)


def annotation_trusted_proxies(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> int | None:
    """A gateway pod's own `gatewayTopology.numTrustedProxies` (None: the mesh's applies).
    An unreadable annotation is reported by `annotation_drain`, not twice."""
    config = annotation_proxy_config(annotations, [])
    return None if config is None else trusted_proxies_in(config, ANNOTATION_PATH, errors)


def annotation_tracing(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> ProxyTracing | None:
    """A pod's own ProxyConfig `tracing` (None: the mesh's `defaultConfig.tracing` applies).
    An unreadable annotation is reported by `annotation_drain`, not twice."""
    config = annotation_proxy_config(annotations, [])
    if config is None:
        return None
    return parse_proxy_tracing(config.get("tracing"), f"{ANNOTATION_PATH}.tracing", errors)


def annotation_concurrency(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> int | None:
    """ProxyConfig `concurrency` of a pod's `proxy.istio.io/config`: Envoy's worker threads, as
    Istio's agent passes `--concurrency` (0: one per CPU; None: not set, the agent's default).
    An unreadable annotation is reported by `annotation_drain`, not twice."""
    config = annotation_proxy_config(annotations, [])
    if config is None or config.get("concurrency") is None:
        return None
    value = config["concurrency"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        errors.append((f"{ANNOTATION_PATH}.concurrency", f"{value!r} is not a whole number >= 0"))
        return None
    return value


HOLD_FIELD = "holdApplicationUntilProxyStarts"


def hold_in_proxy_config(config: Any, where: str, errors: list[tuple[str, str]]) -> bool | None:
    """ProxyConfig `holdApplicationUntilProxyStarts` of a map (None: not set): the pod's app
    containers start once its sidecar is ready, as Istio's injector orders them."""
    if not isinstance(config, dict) or config.get(HOLD_FIELD) is None:
        return None
    value = config[HOLD_FIELD]
    if not isinstance(value, bool):
        errors.append((f"{where}.{HOLD_FIELD}", f"{value!r} is not true or false"))
        return None
    return value


def annotation_hold(annotations: Mapping[str, str], errors: list[tuple[str, str]]) -> bool | None:
    """A pod's own `holdApplicationUntilProxyStarts` (None: the mesh's applies). An unreadable
    annotation is reported by `annotation_drain`, not twice."""
    config = annotation_proxy_config(annotations, [])
    return None if config is None else hold_in_proxy_config(config, ANNOTATION_PATH, errors)


def annotation_stats_inclusion(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> StatsInclusion:
    """A pod's own stats inclusion lists (`config.proxy_stats`): its
    `sidecar.istio.io/statsInclusion*` annotations over its `proxy.istio.io/config`'s
    `proxyStatsMatcher`. An unreadable annotation is reported by `annotation_drain`."""
    config = annotation_proxy_config(annotations, [])
    pod = NOT_SET if config is None else stats_matcher_in(config, ANNOTATION_PATH, errors)
    return annotation_inclusion(annotations, errors).over(pod)


def env_drain_seconds(environ: Mapping[str, str]) -> float | None:
    """`TERMINATION_DRAIN_DURATION_SECONDS` (whole seconds); None when unset or unreadable."""
    text = environ.get(DRAIN_ENV, "")
    return float(text) if text.strip().isdigit() else None


def termination_drain(
    pod: float | None, mesh: float | None, environment: float | None = None
) -> float:
    """The drain in force for one pod: its annotation, the mesh default, the env, then 5 s."""
    for seconds in (pod, mesh, environment):
        if seconds is not None:
            return seconds
    return DEFAULT_DRAIN_SECONDS
