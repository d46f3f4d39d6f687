"""Istio's `sidecar.istio.io/userVolume` and `sidecar.istio.io/userVolumeMount` pod annotations:
volumes that Istio's injection template adds to the pod and mounts into the `istio-proxy`
container (Istio's "Ingress Sidecar TLS Termination" mounts a TLS Secret there for a Sidecar
`ingress[].tls`).

Each annotation is JSON, as the template reads it: `userVolume` a map of volume name -> volume
(`{"secret": {"secretName": …, "optional": …}}` or `{"configMap": {"name": …}}`),
`userVolumeMount` a map of volume name -> mount (`mountPath`, `subPath`, `readOnly`). The files
are the kubelet's (`config_volumes.mounted_files`: every key as a file of its name, or `items`),
given to the pod's agent, which writes them where the proxy's container reads them
(`agent.pod_files`). A Secret or ConfigMap the mesh does not hold keeps the pod from starting, as
the kubelet's `MountVolume.SetUp failed` does, unless the volume says `optional: true` (then it
mounts nothing). Text that is not such JSON is an error at the annotation. Volumes of other kinds
mount nothing (warned). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pilotfish.registry.config_volumes import mounted_files

if TYPE_CHECKING:  # env_sources reads USER_VOLUME
    from pilotfish.registry.env_sources import EnvSources

USER_VOLUME = "sidecar.istio.io/userVolume"
USER_VOLUME_MOUNT = "sidecar.istio.io/userVolumeMount"
_KINDS = {
    "secret": ("Secret", "secretName", "secret"),
    "configMap": ("ConfigMap", "name", "configmap"),
}


@dataclass(frozen=True)
class ProxyVolumes:
    """What the annotations come to: the proxy's files (path -> text), the kubelet's error when
    the pod cannot start (`missing`), and what `apply` warns (`warnings`: field path, text)."""

    files: tuple[tuple[str, str], ...] = ()
    missing: str = ""
    warnings: tuple[tuple[str, str], ...] = ()


def annotation_errors(notes: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field path, message) for each annotation that is not a JSON map of objects."""
    errors = []
    for key in (USER_VOLUME, USER_VOLUME_MOUNT):
        if key in notes and isinstance(_parsed(notes[key]), str):
            errors.append((f"metadata.annotations[{key}]", str(_parsed(notes[key]))))
    return errors


def proxy_volumes(
    notes: Mapping[str, str], namespace: str, sources: EnvSources | None
) -> ProxyVolumes:
    """The proxy's volumes of a pod annotated `notes` (nothing when `sources`, the ConfigMaps and
    Secrets the mesh holds, is not known, or an annotation is not valid: `annotation_errors`)."""
    volumes, mounts = (
        _parsed(notes.get(USER_VOLUME, "{}")),
        _parsed(notes.get(USER_VOLUME_MOUNT, "{}")),
    )
    if sources is None or not isinstance(volumes, dict) or not isinstance(mounts, dict):
        return ProxyVolumes()
    warnings = []
    for name, volume in volumes.items():
        if not set(volume) & set(_KINDS):
            path = f"metadata.annotations[{USER_VOLUME}].{name}"
            warnings.append((path, "mounts nothing here: only secret and configMap volumes do"))
            continue
        kind = next(k for k in _KINDS if k in volume)
        source = volume[kind] if isinstance(volume[kind], dict) else {}
        held_as, key, word = _KINDS[kind]
        wanted = str(source.get(key, ""))
        if sources.lookup(held_as, namespace, wanted) is None and not source.get("optional"):
            why = f'MountVolume.SetUp failed for volume "{name}" : {word} "{wanted}" not found'
            return ProxyVolumes(missing=why, warnings=tuple(warnings))
    pod_spec = {"volumes": [{**v, "name": n} for n, v in volumes.items()]}
    container = {"volumeMounts": [{**m, "name": n} for n, m in mounts.items()]}
    files = mounted_files(pod_spec, container, namespace, sources)
    return ProxyVolumes(tuple(sorted(files.items())), "", tuple(warnings))


def _parsed(text: str) -> dict[str, dict[str, Any]] | str:
    """The annotation's map, or what is wrong with it."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        return "expected a JSON object of name -> object"
    return value
