"""A container's files from `configMap` and `secret` volumes, as the kubelet mounts them, for
local mode, where a pod has no file system of its own: the files reach the app as one
environment variable, `PILOTFISH_FILES` (JSON: the path inside the container -> its text), and
an app that reads a mounted file (the OpenTelemetry Collector stand-in's `--config=/conf/…`,
Istio's samples/open-telemetry/otel.yaml) looks its path up there when no such file exists.

What is mounted: each `volumeMounts[]` entry naming a volume of the pod with `configMap` or
`secret` (`items[].key|path`, else every key as a file of its name; `subPath` mounts one key's
file at `mountPath`). A ConfigMap or Secret the mesh does not hold mounts nothing (the kubelet
would wait for it). Binary data and other volume kinds are not mounted. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # env_sources calls `mounts_sources`
    from pilotfish.registry.env_sources import EnvSources

FILES_ENV = "PILOTFISH_FILES"
_KINDS = {"configMap": ("ConfigMap", "name"), "secret": ("Secret", "secretName")}


def mounts_sources(pod_spec: dict[str, Any]) -> bool:
    """Whether the pod has a ConfigMap or Secret volume (its files then depend on more than
    its own document)."""
    volumes = pod_spec.get("volumes")
    return any(
        isinstance(v, dict) and bool(set(v) & set(_KINDS))
        for v in (volumes if isinstance(volumes, list) else [])
    )


def mounted_files(
    pod_spec: dict[str, Any], container: dict[str, Any], namespace: str, sources: EnvSources | None
) -> dict[str, str]:
    """Path inside the container -> text, for the container's ConfigMap and Secret mounts."""
    volumes = {v.get("name"): v for v in _list(pod_spec.get("volumes")) if isinstance(v, dict)}
    files: dict[str, str] = {}
    for mount in _list(container.get("volumeMounts")):
        if not isinstance(mount, dict) or not isinstance(mount.get("mountPath"), str):
            continue
        volume = volumes.get(mount.get("name"))
        kind = next((k for k in _KINDS if isinstance(volume, dict) and k in volume), None)
        if kind is None or sources is None:
            continue
        assert volume is not None
        source = volume[kind] if isinstance(volume[kind], dict) else {}
        held = sources.lookup(_KINDS[kind][0], namespace, str(source.get(_KINDS[kind][1], "")))
        if held is None:
            continue
        items = [i for i in _list(source.get("items")) if isinstance(i, dict)]
        named = {str(i.get("path") or i.get("key")): str(i.get("key")) for i in items}
        for path, key in (named or {k: k for k in held}).items():
            if key not in held:
                continue
            sub = mount.get("subPath")
            if isinstance(sub, str) and sub:
                if sub == path:
                    files[mount["mountPath"]] = held[key]
                continue
            files[posixpath.join(mount["mountPath"], path)] = held[key]
    return files


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
