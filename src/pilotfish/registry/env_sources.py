"""A container's env from the ConfigMaps and Secrets the mesh holds, as the kubelet makes it:
`envFrom` (`configMapRef` / `secretRef`, `prefix`, `optional`) and `env[].valueFrom`'s
`configMapKeyRef` / `secretKeyRef` (`name`, `key`, `optional`).

What the API server refuses is an error (`FieldError`: path below the item, message). What the
kubelet refuses when it creates the container (a ConfigMap, Secret or key missing and not
`optional`) is not: the pod is created and its app container waits in
`CreateContainerConfigError` with the kubelet's message (`configmap "x" not found`, `couldn't
find key k in ConfigMap ns/x`) until the object appears. A ConfigMap's env values are its `data`
(not `binaryData`, as the kubelet); a Secret's are its data base64-decoded (`stringData` merged,
as the API server stores it). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pilotfish.registry.bootstrap_override import BOOTSTRAP_OVERRIDE
from pilotfish.registry.config_volumes import mounts_sources
from pilotfish.registry.pod_fields import FieldError
from pilotfish.registry.user_volumes import USER_VOLUME
from pilotfish.registry.workloads import RawDocumentLike

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_KINDS = {"configMapKeyRef": "ConfigMap", "secretKeyRef": "Secret"}
_FROM = {"configMapRef": "ConfigMap", "secretRef": "Secret"}


@dataclass(frozen=True)
class EnvSources:
    """(namespace, name) -> the values a ConfigMap's / Secret's keys hold."""

    config_maps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)

    def lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        held = self.config_maps if kind == "ConfigMap" else self.secrets
        return held.get((namespace, name))


class Missing(Exception):
    """What the kubelet says when it cannot make the container's env (the pod's
    CreateContainerConfigError)."""


def reads_sources(doc: RawDocumentLike) -> bool:
    """Whether a Deployment's or Pod's container env (or its files: `config_volumes`; or its
    sidecar's bootstrap override) reads ConfigMaps or Secrets (its pod's env then depends on
    more than its own document)."""
    spec = doc.data.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    meta = doc.data.get("metadata")
    if doc.kind == "Deployment":
        template = spec.get("template")
        meta = template.get("metadata") if isinstance(template, dict) else None
        spec = template.get("spec") if isinstance(template, dict) else None
        spec = spec if isinstance(spec, dict) else {}
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    if mounts_sources(spec) or (
        isinstance(notes, dict) and (BOOTSTRAP_OVERRIDE in notes or USER_VOLUME in notes)
    ):
        return True
    containers = spec.get("containers")
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, dict):
            continue
        if container.get("envFrom"):
            return True
        items = container.get("env")
        for item in items if isinstance(items, list) else []:
            source = item.get("valueFrom") if isinstance(item, dict) else None
            if isinstance(source, dict) and set(source) & set(_KINDS):
                return True
    return False


def key_ref(kind: str, ref: Any, namespace: str, sources: EnvSources | None) -> str | None:
    """The value `valueFrom.configMapKeyRef|secretKeyRef` names (None: optional and missing).
    Raises FieldError (refused by the API server) or Missing (the kubelet's error)."""
    ref = ref if isinstance(ref, dict) else {}
    name, key = ref.get("name"), ref.get("key")
    if not isinstance(name, str) or not name:
        raise FieldError(f"{kind}.name", "is required")
    if not isinstance(key, str) or not key:
        raise FieldError(f"{kind}.key", "is required")
    if not _CONFIG_KEY.match(key) or len(key) > 253:
        raise FieldError(f"{kind}.key", "a valid config key must consist of alphanumeric"
                         " characters, '-', '_' or '.'")  # fmt: skip
    optional = ref.get("optional") is True
    source = _KINDS[kind]
    held = sources.lookup(source, namespace, name) if sources is not None else None
    if held is None:
        if optional:
            return None
        raise Missing(f'{source.lower()} "{name}" not found')
    if key not in held:
        if optional:
            return None
        raise Missing(f"couldn't find key {key} in {source} {namespace}/{name}")
    return held[key]


def env_from(
    items: Any, at: str, namespace: str, sources: EnvSources | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    """`envFrom`'s variables in order, the API server's errors (path, message), and the
    kubelet's error for a source missing and not optional ("" when none)."""
    found: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    missing = ""
    for index, item in enumerate(items if isinstance(items, list) else []):
        item, where = (item if isinstance(item, dict) else {}), f"{at}[{index}]"
        refs = [k for k in _FROM if k in item]
        if len(refs) != 1:
            errors.append(
                (
                    where,
                    "may not have more than one field specified at a time"
                    if refs
                    else "must specify one of: `configMapRef` or `secretRef`",
                )
            )
            continue  # fmt: skip
        ref = item[refs[0]] if isinstance(item[refs[0]], dict) else {}
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            errors.append((f"{where}.{refs[0]}.name", "is required"))
            continue
        prefix = str(item.get("prefix") or "")
        held = sources.lookup(_FROM[refs[0]], namespace, name) if sources is not None else None
        if held is None:
            if ref.get("optional") is not True and not missing:
                missing = f'{_FROM[refs[0]].lower()} "{name}" not found'
            continue
        found.extend((prefix + k, v) for k, v in sorted(held.items()))
    return found, errors, missing


def env_sources(docs: list[RawDocumentLike]) -> EnvSources:
    """The ConfigMaps' `data` and the Secrets' values (base64-decoded, `stringData` merged) a
    container's env may read; a value that is not UTF-8 text is left out (the manifest's
    Secret parsing reports it)."""
    maps: dict[tuple[str, str], dict[str, str]] = {}
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for doc in docs:
        if doc.api_version != "v1" or doc.kind not in ("ConfigMap", "Secret"):
            continue
        meta = doc.data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        where = (str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
        data = doc.data.get("data")
        data = data if isinstance(data, dict) else {}
        if doc.kind == "ConfigMap":
            maps[where] = {str(k): str(v) for k, v in data.items()}
            continue
        values: dict[str, str] = {}
        for key, raw in data.items():
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                values[str(key)] = base64.b64decode(str(raw), validate=True).decode()
        extra = doc.data.get("stringData")
        values.update(
            {str(k): str(v) for k, v in (extra if isinstance(extra, dict) else {}).items()}
        )
        secrets[where] = values
    return EnvSources(maps, secrets)
