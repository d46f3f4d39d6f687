"""`sidecar.istio.io/bootstrapOverride`: a pod's custom Envoy bootstrap, as Istio applies it.

Istio's injection template mounts the ConfigMap the annotation names (volume
`custom-bootstrap-volume`, at `/etc/istio/custom-bootstrap`) and sets `ISTIO_BOOTSTRAP_OVERRIDE`
to its `custom_bootstrap.json`; pilot-agent reads that file as YAML or JSON (`$(HOST_IP)`
replaced by the node's address), converts it to JSON and starts Envoy with it as
`--config-yaml`, which Envoy merges into the generated bootstrap (singular fields replace,
repeated fields append). Istio's `pkg/envoy/proxy.go` (`args`, `readBootstrapToJSON`).

What follows, here as there:
- the ConfigMap missing: the kubelet cannot mount the volume, so the pod does not start
  (`MountVolume.SetUp failed for volume "custom-bootstrap-volume" : configmap "x" not found`);
  here neither the sidecar nor the app starts, and the pod shows the kubelet's message;
- the ConfigMap without `custom_bootstrap.json`, or its text not YAML/JSON: pilot-agent logs
  `Failed to read bootstrap override: …` and starts Envoy without it; `apply` warns (on the pod
  and on such a ConfigMap), as silence would hide it;
- a valid document that Envoy refuses: Envoy exits, the sidecar restarts in a loop (CrashLoop).

A sidecar with an override also gets the `zipkin` cluster Istio's bootstrap has by default
(`agent.bootstrap`), which the tracer of Istio's sample names.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

BOOTSTRAP_OVERRIDE = "sidecar.istio.io/bootstrapOverride"
OVERRIDE_KEY = "custom_bootstrap.json"
OVERRIDE_VOLUME = "custom-bootstrap-volume"
OVERRIDE_PATH = "/etc/istio/custom-bootstrap/" + OVERRIDE_KEY  # ISTIO_BOOTSTRAP_OVERRIDE
OVERRIDE_ENV = "ISTIO_BOOTSTRAP_OVERRIDE"


@dataclass(frozen=True)
class Override:
    """What a pod's annotation comes to: the file's text, checked (`override_json` makes it
    Envoy's `--config-yaml` where the node's address is known; "" for none), the kubelet's
    error when the pod cannot start (`missing`), or what the agent warns (`warning`)."""

    config: str = ""
    missing: str = ""
    warning: str = ""


def override_json(text: str, host_ip: str = "") -> str:
    """The override as pilot-agent passes it: YAML or JSON -> JSON, `$(HOST_IP)` replaced.
    Raises ValueError naming the line of the first problem."""
    if ":" in host_ip:  # IPv6, in brackets (kept when the user wrote them)
        text = text.replace("[$(HOST_IP)]", f"[{host_ip}]").replace("$(HOST_IP)", f"[{host_ip}]")
    text = text.replace("$(HOST_IP)", host_ip)
    try:
        value = YAML(typ="safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{where}{problem}") from None
    if not isinstance(value, dict):
        raise ValueError("not a mapping of bootstrap fields")
    return json.dumps(value, sort_keys=True, default=str)


def pod_override(
    annotations: Mapping[str, str],
    namespace: str,
    config_maps: Mapping[tuple[str, str], Mapping[str, str]],
) -> Override:
    """The override of a pod annotated `sidecar.istio.io/bootstrapOverride` (nothing without
    the annotation), from the ConfigMaps the mesh holds."""
    name = annotations.get(BOOTSTRAP_OVERRIDE)
    if name is None:
        return Override()
    held = config_maps.get((namespace, name))
    if held is None:
        return Override(
            missing=f'MountVolume.SetUp failed for volume "{OVERRIDE_VOLUME}" : configmap '
            f'"{name}" not found'
        )
    failed = f"Failed to read bootstrap override: {OVERRIDE_PATH}"
    if OVERRIDE_KEY not in held:
        return Override(
            warning=f"{failed}: ConfigMap {namespace}/{name} has no key {OVERRIDE_KEY}: the "
            "sidecar starts without the override"
        )
    try:
        override_json(held[OVERRIDE_KEY])
        return Override(config=held[OVERRIDE_KEY])
    except ValueError as exc:
        return Override(
            warning=f"{failed}: ConfigMap {namespace}/{name} data.{OVERRIDE_KEY} is not YAML "
            f"or JSON ({exc}): the sidecar starts without the override"
        )


def config_map_warning(data: Mapping[str, object]) -> str:
    """What `apply` says about a ConfigMap whose `custom_bootstrap.json` no sidecar could read
    ("" when it reads, or has no such key)."""
    text = data.get(OVERRIDE_KEY)
    if not isinstance(text, str):
        return ""
    try:
        override_json(text)
    except ValueError as exc:
        return (
            f"not YAML or JSON ({exc}): a pod naming this ConfigMap in {BOOTSTRAP_OVERRIDE} "
            "starts its sidecar without the override, as Istio's agent does"
        )
    return ""
