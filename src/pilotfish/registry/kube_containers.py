"""One container of a Kubernetes pod spec, unchanged YAML -> `Container`: its `name` (a DNS
label, as Kubernetes requires), `image` (through the image map's entry recorded on apply),
`command`, `args` (with `$(VAR)` expanded as the kubelet does), `env` and `envFrom`, ConfigMap
and Secret volumes' files, `ports[].containerPort` and its probes: `readinessProbe` (`httpGet`
`tcpSocket`, `grpc` or `exec`), `livenessProbe` and `startupProbe`, with the API
server's defaults and checks (`successThreshold` 1 for liveness and startup). Errors and
warnings go to the caller's `report`/`error` with the field's path.

`kube_workloads` calls it for each container of a pod and checks what concerns the pod as a
whole (names unique, ports not shared). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pilotfish.registry.config_volumes import FILES_ENV, mounted_files
from pilotfish.registry.env_sources import EnvSources, Missing, env_from, key_ref
from pilotfish.registry.images import ImageEntry
from pilotfish.registry.pod_fields import FieldError, field_ref, resource_field_ref
from pilotfish.registry.workloads import (
    IMAGES_ANNOTATION,
    PROBE_FIELDS,
    RESERVED_PORTS,
    Container,
    Probe,
    RawDocumentLike,
)

_VAR = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and"
    " must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex"
    " used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

Report = Callable[[str, str, str], None]  # (level, field path, message)
Error = Callable[[str, str], None]  # (field path, message)


@dataclass(frozen=True)
class PodContext:
    """What a container's fields are read against: its pod and where it is stored."""

    doc: RawDocumentLike
    namespace: str
    meta: dict[str, Any]  # the pod's metadata (a Deployment's template's)
    spec: dict[str, Any]  # the pod's spec
    sources: EnvSources | None = None
    require_images: bool = True


def parse_container(
    pod: PodContext, raw: Any, at: str, report: Report, error: Error
) -> tuple[Container, str] | None:
    """The container at `at` (`spec.containers[i]`) and the kubelet's config error for it
    ("" when none); None when it is not a map (reported)."""
    if not isinstance(raw, dict):
        error(at, "must be a map (a container)")
        return None
    container: dict[str, Any] = raw
    name = container.get("name")
    if not isinstance(name, str) or not name:
        error(f"{at}.name", "Required value")
        name = ""
    elif len(name) > 63 or not _LABEL.fullmatch(name):
        error(f"{at}.name", f'Invalid value: "{name}": {_LABEL_RULE}')
    if "workingDir" in container:
        report("warning", f"{at}.workingDir", "local mode runs in the image map's workingDir")
    ports, names = _ports(container, at, error)
    env, config_error = _env(container, at, pod, error)
    entry = _image_entry(pod, container, at, error)
    probes = _probes(container, at, ports, names, report, error)
    command, args = container.get("command") or [], container.get("args") or []
    for key, value in (("command", command), ("args", args)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            error(f"{at}.{key}", "must be a list of strings")
    full_env = {**(dict(entry.env) if entry else {}), **dict(env)}
    if files := mounted_files(pod.spec, container, pod.namespace, pod.sources):
        full_env[FILES_ENV] = json.dumps(files, sort_keys=True)
    argv = entry.argv(expand(command, full_env), expand(args, full_env)) if entry else ()
    found = Container(
        name=name,
        command=argv,
        env=tuple(full_env.items()),
        ports=ports,
        workdir=entry.workdir if entry else ".",
        readiness=probes.get("readyz"),
        liveness=probes.get("livez"),
        startup=probes.get("startupz"),
    )
    return found, config_error


def _ports(
    container: dict[str, Any], at: str, error: Error
) -> tuple[tuple[int, ...], dict[str, int]]:
    ports: list[int] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(_list(container.get("ports"))):
        number = _map(raw).get("containerPort")
        path = f"{at}.ports[{index}].containerPort"
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            error(path, "is required: a port from 1 to 65535")
        elif number in RESERVED_PORTS:
            error(path, f"{number} is a sidecar port (reserved: {sorted(RESERVED_PORTS)})")
        elif number not in ports:
            ports.append(number)
            if isinstance(_map(raw).get("name"), str):
                names[str(_map(raw)["name"])] = number
    return tuple(ports), names


def _env(
    container: dict[str, Any], at: str, pod: PodContext, error: Error
) -> tuple[list[tuple[str, str]], str]:
    """The container's env as the kubelet makes it: `envFrom` first, then `env` in order,
    `$(VAR)` expanded over the ones before; the Downward API's values (`registry.pod_fields`),
    a running pod's as placeholders; ConfigMaps' and Secrets' (`registry.env_sources`). Also
    the kubelet's error when a source it needs is missing ("" when none)."""
    namespace, meta, spec, sources = pod.namespace, pod.meta, pod.spec, pod.sources
    found, refused, missing = env_from(container.get("envFrom"), f"{at}.envFrom", namespace,
                                       sources)  # fmt: skip
    for path, message in refused:
        error(path, message)
    account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    for index, item in enumerate(_list(container.get("env"))):
        item, where = _map(item), f"{at}.env[{index}]"
        name = item.get("name")
        if not isinstance(name, str) or not name:
            error(f"{where}.name", "is required")
            continue
        if "valueFrom" not in item:
            found.append((name, expand([str(item.get("value", ""))], dict(found))[0]))
            continue
        source = _map(item["valueFrom"])
        if item.get("value"):
            error(f"{where}.valueFrom", "may not be specified when `value` is not empty")
            continue
        if len(source) != 1:
            error(f"{where}.valueFrom", "may not have more than one field specified at a time"
                  if source else "must specify one of: `fieldRef`, `resourceFieldRef`,"
                  " `configMapKeyRef` or `secretKeyRef`")  # fmt: skip
            continue
        value: str | None = None
        try:
            if "fieldRef" in source:
                value = field_ref(source["fieldRef"], namespace, account, meta)
            elif "resourceFieldRef" in source:
                value = resource_field_ref(source["resourceFieldRef"], container)
            elif (kind := next(iter(source))) in ("configMapKeyRef", "secretKeyRef"):
                value = key_ref(kind, source[kind], namespace, sources)
            else:
                raise FieldError(kind, f"{kind} is not supported in local mode; use `value`")
        except FieldError as bad:
            error(f"{where}.valueFrom.{bad.path}", str(bad))
            continue
        except Missing as absent:
            missing = missing or str(absent)
        if value is not None:  # an optional key not found: the variable is not set
            found.append((name, value))
    return found, missing


def _image_entry(
    pod: PodContext, container: dict[str, Any], at: str, error: Error
) -> ImageEntry | None:
    image = container.get("image")
    if not isinstance(image, str) or not image:
        error(f"{at}.image", "is required")
        return None
    notes = _map(_map(pod.doc.data.get("metadata")).get("annotations"))
    try:
        known = json.loads(str(notes.get(IMAGES_ANNOTATION) or "{}"))
    except ValueError:
        known = {}
    entry = ImageEntry.from_json(_map(known).get(image))
    if entry is None and pod.require_images:
        error(f"{at}.image", f"image {image!r} is not resolved to a local command (image map)")
    return entry


def _probes(
    container: dict[str, Any],
    at: str,
    ports: tuple[int, ...],
    names: dict[str, int],
    report: Report,
    error: Error,
) -> dict[str, Probe]:
    """The container's readinessProbe, livenessProbe and startupProbe, by endpoint (readyz,
    livez, startupz), with the API server's defaults and validation."""
    found: dict[str, Probe] = {}
    for field, endpoint in PROBE_FIELDS:
        raw = container.get(field)
        if raw is not None:
            where = f"{at}.{field}"
            probe = _probe(_map(raw), where, endpoint, ports, names, report, error)
            if probe is not None:
                found[endpoint] = replace(probe, container=str(container.get("name") or ""))
    return found


_TIMES = (  # field, default (the API server's, for an unset or 0 value), least value
    ("initialDelaySeconds", 0), ("timeoutSeconds", 1), ("periodSeconds", 10),
    ("successThreshold", 1), ("failureThreshold", 3),
)  # fmt: skip


def _probe(
    raw: dict[str, Any],
    at: str,
    endpoint: str,
    ports: tuple[int, ...],
    names: dict[str, int],
    report: Report,
    error: Error,
) -> Probe | None:
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if k in raw]
    if len(handlers) != 1:
        error(at, "Required value: must specify a handler type" if not handlers
              else "Forbidden: may not specify more than 1 handler type")  # fmt: skip
        return None
    handler = handlers[0]
    times: dict[str, int] = {}
    for name, default in _TIMES:
        value = raw.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            error(f"{at}.{name}", f"{value!r} is not a whole number")
            return None
        if isinstance(value, int) and value < 0:
            error(f"{at}.{name}", f"Invalid value: {value}: must be greater than or equal to 0")
            return None
        times[name] = value or default
    if endpoint != "readyz" and times["successThreshold"] != 1:
        value = times["successThreshold"]
        error(f"{at}.successThreshold", f"Invalid value: {value}: must be 1")
        return None
    grace = raw.get("terminationGracePeriodSeconds")
    if grace is not None:
        where = f"{at}.terminationGracePeriodSeconds"
        if endpoint == "readyz":
            error(where, f"Invalid value: {grace}: must not be set for readinessProbes")
            return None
        if not isinstance(grace, int) or isinstance(grace, bool) or grace <= 0:
            error(where, f"Invalid value: {grace}: must be greater than 0")
            return None
    common: dict[str, Any] = {
        "endpoint": endpoint,
        "termination_grace": grace,
        "initial_delay_seconds": times["initialDelaySeconds"],
        "timeout_seconds": times["timeoutSeconds"],
        "period_seconds": times["periodSeconds"],
        "success_threshold": times["successThreshold"],
        "failure_threshold": times["failureThreshold"],
    }
    action = _map(raw[handler])
    if handler == "exec":
        command = action.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(c, str) for c in command)
        ):
            error(f"{at}.exec.command", "Required value: a list of strings")
            return None
        return Probe("", "exec", command=tuple(command), **common)
    port = action.get("port")
    number = names.get(port) if isinstance(port, str) and handler != "grpc" else port
    if not isinstance(number, int) or isinstance(number, bool) or number not in ports:
        error(f"{at}.{handler}.port", f"{port!r} is not one of the container's ports {list(ports)}")
        return None
    if handler == "grpc":
        service = action.get("service")
        return Probe("", "grpc", number, service=str(service or ""), **common)
    if action.get("host"):
        report("warning", f"{at}.{handler}.host", "ignored: local mode probes the pod itself")
    if handler == "tcpSocket":
        return Probe("", "tcp", number, **common)
    scheme = str(action.get("scheme") or "HTTP").upper()
    if scheme not in ("HTTP", "HTTPS"):
        error(f"{at}.{handler}.scheme", f"{scheme!r} is not HTTP or HTTPS")
        return None
    headers = tuple(
        (str(_map(h).get("name", "")), str(_map(h).get("value", "")))
        for h in _list(action.get("httpHeaders"))
    )
    path = str(action.get("path") or "/")
    path = path if path.startswith("/") else f"/{path}"
    return Probe("", "http", number, path=path, scheme=scheme, headers=headers, **common)


def expand(values: list[Any], env: dict[str, str]) -> list[str]:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is `$`, anything
    else stays as written."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return [_VAR.sub(one, str(v)) for v in values] if isinstance(values, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
