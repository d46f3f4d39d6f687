"""Kubernetes workload YAML, unchanged: `apps/v1 Deployment` and `v1 Pod` -> `WorkloadSpec`.

What local mode honours: `replicas`, the pod's labels (the template's, for a Deployment) and
annotations (`sidecar.istio.io/inject`, also as a pod label, which wins as in Istio's injector;
`traffic.sidecar.istio.io/*`, `prometheus.io/*` are carried; `proxy.istio.io/config`'s
`terminationDrainDuration` and `proxyMetadata` as for Workloads), `serviceAccountName`, and of the
one container: `image` (through the image map, `pilotfish.registry.images`), `command`, `args`
(with `$(VAR)` expanded as the kubelet does), `env` and `envFrom` (`value`, the Downward API's
`valueFrom.fieldRef` / `resourceFieldRef`: `registry.pod_fields`; ConfigMaps' and Secrets'
values: `registry.env_sources`), ConfigMap and Secret volumes' files (`registry.config_volumes`),
`ports[].containerPort`, `readinessProbe` (`httpGet` or
`tcpSocket`; Istio's injector rewrites such probes so that its agent runs them, which is what
pilotfish's agent does). Other Kubernetes fields are accepted and not used;
fields Kubernetes does not have are warned about (`FIELDS`), as unknown fields of Istio kinds.

Images resolve at apply time (`resolve_images`): the local command is kept on the stored
document in the `pilotfish.io/images` annotation, so a stored Deployment needs no map later.
Pure: no I/O. Must not import the agent, the CLI or the control plane.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.objects import Diagnostic, Level, Source
from pilotfish.config.proxy_metadata import PROXY_CONFIG_ANNOTATION, parse_proxy_config_annotation
from pilotfish.registry.annotation_support import (
    COMPONENT_LOG_LEVEL,
    LOG_LEVEL,
    envoy_log_levels,
)
from pilotfish.registry.bootstrap_override import BOOTSTRAP_OVERRIDE, Override, pod_override
from pilotfish.registry.config_volumes import FILES_ENV, mounted_files
from pilotfish.registry.drain import (
    annotation_drain,
    annotation_stats_inclusion,
    annotation_trusted_proxies,
)
from pilotfish.registry.env_sources import EnvSources, Missing, env_from, key_ref
from pilotfish.registry.images import ImageEntry, ImageMap
from pilotfish.registry.injection import recorded_injection
from pilotfish.registry.kube_fields import FIELDS, unknown_fields
from pilotfish.registry.pod_fields import FieldError, field_ref, resource_field_ref
from pilotfish.registry.workloads import (
    IMAGES_ANNOTATION,
    INJECT_ANNOTATION,
    PILOTFISH_ANNOTATIONS,
    RESERVED_PORTS,
    RawDocumentLike,
    ReadinessProbe,
    WorkloadSpec,
)

KUBE_WORKLOAD_KINDS = frozenset({("apps/v1", "Deployment"), ("v1", "Pod")})
_VAR = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")

Report = Callable[[str, str, str], None]  # (level, field path, message)


def is_kube_workload(doc: RawDocumentLike) -> bool:
    return (doc.api_version, doc.kind) in KUBE_WORKLOAD_KINDS


def diagnostics_for(doc: RawDocumentLike, found: list[Diagnostic]) -> Report:
    """A `Report` that appends `Diagnostic`s naming doc's file, the field's line and the kind."""
    meta = doc.data.get("metadata")
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""

    def report(level: str, path: str, message: str) -> None:
        head, _, key = path.rstrip("]").rpartition("[")  # a map key: `annotations[a.b/c]`
        keyed = doc.line_of(f"{head}.{key}") if path.endswith("]") and not key.isdigit() else 0
        where = Source(doc.source.file, keyed or doc.line_of(path) or doc.source.line)
        chosen: Level = "error" if level == "error" else "warning"
        found.append(Diagnostic(chosen, message, path, where, doc.kind, name))

    return report


def pod_parts(doc: RawDocumentLike) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(path prefix, pod metadata, pod spec): a Deployment's template, or the Pod itself."""
    if doc.kind == "Deployment":
        spec = doc.data.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        template = template if isinstance(template, dict) else {}
        return "spec.template.", _map(template.get("metadata")), _map(template.get("spec"))
    return "", _map(doc.data.get("metadata")), _map(doc.data.get("spec"))


def resolve_images(doc: RawDocumentLike, images: ImageMap, report: Report) -> None:
    """Record each container image's local command on doc (the `pilotfish.io/images`
    annotation), or report an error naming the image. A document that already carries the
    annotation (the store, `get -o yaml` applied back) keeps it."""
    meta = doc.data.get("metadata")
    if not isinstance(meta, dict):
        return
    notes = meta.get("annotations")
    if isinstance(notes, dict) and IMAGES_ANNOTATION in notes:
        return
    prefix, _, spec = pod_parts(doc)
    resolved: dict[str, Any] = {}
    for index, container in enumerate(_list(spec.get("containers"))):
        image = _map(container).get("image")
        if not isinstance(image, str) or not image:
            continue  # parse_kube_workload reports it
        entry = images.resolve(image)
        if entry is None:
            report(
                "error",
                f"{prefix}spec.containers[{index}].image",
                f"image {image!r} has no entry in the image map (read: {', '.join(images.files)});"
                " add one to your own map (PILOTFISH_IMAGE_MAP or `pilotfish up --image-map`)",
            )
            continue
        if entry.unavailable:
            report(
                "error",
                f"{prefix}spec.containers[{index}].image",
                f"image {image!r} cannot run in local mode: {entry.unavailable} ({entry.origin})",
            )
            continue
        resolved[image] = entry.to_json()
    if resolved:
        if not isinstance(notes, dict):
            notes = meta["annotations"] = {}
        notes[IMAGES_ANNOTATION] = json.dumps(resolved, sort_keys=True)


def parse_kube_workload(
    doc: RawDocumentLike,
    name: str,
    namespace: str,
    report: Report,
    require_images: bool = True,
    sources: EnvSources | None = None,
) -> WorkloadSpec | None:
    """The WorkloadSpec of a Deployment or Pod (None after reporting an error). Without
    `require_images` (the CLI's check before sending, which has no image map) an image not yet
    resolved is not an error and the command stays empty. `sources`: the ConfigMaps and Secrets
    its env may read (`registry.env_sources`)."""
    for path, message in unknown_fields(doc.data, FIELDS[doc.kind]):
        report("warning", path, message)
    errors: list[str] = []

    def error(path: str, message: str) -> None:
        errors.append(path)
        report("error", path, message)

    prefix, pod_meta, spec = pod_parts(doc)
    replicas = 1
    if doc.kind == "Deployment":
        replicas = _deployment_checks(doc, pod_meta, error)
    containers = _list(spec.get("containers"))
    at = f"{prefix}spec.containers"
    if len(containers) != 1 or not isinstance(containers[0], dict):
        error(at, f"local mode runs exactly one container per pod, not {len(containers)}")
        return None
    container: dict[str, Any] = containers[0]
    at = f"{at}[0]"
    if _list(spec.get("initContainers")):
        report(
            "warning", f"{prefix}spec.initContainers", "init containers do not run in local mode"
        )
    if "workingDir" in container:
        report("warning", f"{at}.workingDir", "local mode runs in the image map's workingDir")
    ports, names = _ports(container, at, error)
    env, config_error = _env(container, at, namespace, (pod_meta, spec, sources), error)
    entry = _image_entry(doc, container, at, error, require_images)
    probe = _probe(container, at, ports, names, report, error)
    command, args = container.get("command") or [], container.get("args") or []
    for key, value in (("command", command), ("args", args)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            error(f"{at}.{key}", "must be a list of strings")
    notes = {str(k): str(v) for k, v in _map(pod_meta.get("annotations")).items()}
    drain_errors: list[tuple[str, str]] = []
    drain = annotation_drain(notes, drain_errors)
    trusted = annotation_trusted_proxies(notes, drain_errors)
    stats = annotation_stats_inclusion(notes, drain_errors)
    found: list[tuple[str, str]] = []  # proxyMetadata, as for Workloads (YAML errors: drain's)
    metadata = parse_proxy_config_annotation(notes.get(PROXY_CONFIG_ANNOTATION, ""), found)
    drain_errors += [e for e in found if not e[0].endswith(f"[{PROXY_CONFIG_ANNOTATION}]")]
    for path, message in drain_errors:
        error(f"{prefix}{path}", message)
    levels = _log_levels(notes, prefix, error)
    override = pod_override(notes, namespace, sources.config_maps) if sources else Override()
    if override.warning:
        report("warning", f"{prefix}metadata.annotations[{BOOTSTRAP_OVERRIDE}]", override.warning)
    if errors:
        return None
    labels = _map(pod_meta.get("labels"))
    image_env = dict(entry.env) if entry else {}
    full_env = {**image_env, **dict(env)}
    if files := mounted_files(spec, container, namespace, sources):
        full_env[FILES_ENV] = json.dumps(files, sort_keys=True)
    argv = entry.argv(_expand(command, full_env), _expand(args, full_env)) if entry else ()
    inject = labels.get(INJECT_ANNOTATION, notes.get(INJECT_ANNOTATION))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    own_notes = [(k, v) for k, v in notes.items() if k not in PILOTFISH_ANNOTATIONS]
    return WorkloadSpec(
        name=name,
        namespace=namespace,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        replicas=replicas,
        service_account=str(account),
        command=argv,
        env=tuple(full_env.items()),
        ports=ports,
        workdir=entry.workdir if entry else ".",
        annotations=tuple(sorted(own_notes)),
        sidecar=recorded_injection(
            _map(_map(doc.data.get("metadata")).get("annotations")),
            str(inject).lower() != "false" if inject is not None else True,
        ),
        termination_drain=drain,
        stats_inclusion=stats,
        num_trusted_proxies=trusted,
        proxy_metadata=metadata,
        readiness=probe,
        kind=doc.kind,
        config_error=config_error or override.missing,
        bootstrap_override=override.config,
        log_levels=levels,
        volume_error=override.missing,
    )  # fmt: skip


def _log_levels(
    notes: dict[str, str], prefix: str, error: Callable[[str, str], None]
) -> tuple[str, str] | None:
    """Envoy's (--log-level, --component-log-level) from `sidecar.istio.io/logLevel` and
    `componentLogLevel`, as Istio's injector passes them to pilot-agent (None: neither set)."""
    level, components = notes.get(LOG_LEVEL, ""), notes.get(COMPONENT_LOG_LEVEL, "")
    for key, alone in ((LOG_LEVEL, (level, "")), (COMPONENT_LOG_LEVEL, ("", components))):
        try:
            envoy_log_levels(*alone)
        except ValueError as exc:
            error(f"{prefix}metadata.annotations[{key}]", str(exc))
            return None
    return envoy_log_levels(level, components) if (level or components) else None


def _deployment_checks(
    doc: RawDocumentLike, pod_meta: dict[str, Any], error: Callable[[str, str], None]
) -> int:
    spec = _map(doc.data.get("spec"))
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 100:
        error("spec.replicas", "must be an integer from 0 to 100")
        replicas = 1
    if not isinstance(spec.get("template"), dict):
        error("spec.template", "is required")
    selector = spec.get("selector")
    wanted = _map(selector).get("matchLabels") if isinstance(selector, dict) else None
    labels = _map(pod_meta.get("labels"))
    if not isinstance(wanted, dict) or not wanted:
        error("spec.selector", "is required (matchLabels)")
    elif any(str(labels.get(k)) != str(v) for k, v in wanted.items()):
        error("spec.selector", "`selector` does not match template `labels`")
    return replicas


def _ports(
    container: dict[str, Any], at: str, error: Callable[[str, str], None]
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
    container: dict[str, Any],
    at: str,
    namespace: str,
    pod: tuple[dict[str, Any], dict[str, Any], EnvSources | None],
    error: Callable[[str, str], None],
) -> tuple[list[tuple[str, str]], str]:
    """The container's env as the kubelet makes it: `envFrom` first, then `env` in order,
    `$(VAR)` expanded over the ones before; the Downward API's values (`registry.pod_fields`),
    a running pod's as placeholders; ConfigMaps' and Secrets' (`registry.env_sources`). Also
    the kubelet's error when a source it needs is missing ("" when none)."""
    meta, spec, sources = pod
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
            found.append((name, _expand([str(item.get("value", ""))], dict(found))[0]))
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
    doc: RawDocumentLike,
    container: dict[str, Any],
    at: str,
    error: Callable[[str, str], None],
    require: bool,
) -> ImageEntry | None:
    image = container.get("image")
    if not isinstance(image, str) or not image:
        error(f"{at}.image", "is required")
        return None
    notes = _map(_map(doc.data.get("metadata")).get("annotations"))
    try:
        known = json.loads(str(notes.get(IMAGES_ANNOTATION) or "{}"))
    except ValueError:
        known = {}
    entry = ImageEntry.from_json(_map(known).get(image))
    if entry is None and require:
        error(f"{at}.image", f"image {image!r} is not resolved to a local command (image map)")
    return entry


def _probe(
    container: dict[str, Any],
    at: str,
    ports: tuple[int, ...],
    names: dict[str, int],
    report: Report,
    error: Callable[[str, str], None],
) -> ReadinessProbe | None:
    raw = container.get("readinessProbe")
    if raw is None:
        return None
    raw, at = _map(raw), f"{at}.readinessProbe"
    handler = next((k for k in ("httpGet", "tcpSocket", "exec", "grpc") if k in raw), "")
    if handler in ("exec", "grpc") or not handler:
        what = handler or "a probe without handler"
        report("warning", at, f"{what} is not run in local mode; the instance is ready when its"
               " ports accept connections")  # fmt: skip
        return None
    action = _map(raw[handler])
    port = action.get("port")
    number = names.get(port) if isinstance(port, str) else port
    if not isinstance(number, int) or number not in ports:
        error(f"{at}.{handler}.port", f"{port!r} is not one of the container's ports {list(ports)}")
        return None
    if action.get("host"):
        report("warning", f"{at}.{handler}.host", "ignored: local mode probes the pod itself")
    scheme = str(action.get("scheme") or "HTTP").upper()
    if scheme not in ("HTTP", "HTTPS"):
        error(f"{at}.{handler}.scheme", f"{scheme!r} is not HTTP or HTTPS")
        return None
    headers = tuple(
        (str(_map(h).get("name", "")), str(_map(h).get("value", "")))
        for h in _list(action.get("httpHeaders"))
    )
    path = str(action.get("path") or "/")
    return ReadinessProbe(
        container=str(container.get("name") or ""),
        kind="http" if handler == "httpGet" else "tcp",
        port=number,
        path=path if path.startswith("/") else f"/{path}",
        scheme=scheme,
        headers=headers,
        initial_delay_seconds=_int(raw.get("initialDelaySeconds"), 0),
        timeout_seconds=max(1, _int(raw.get("timeoutSeconds"), 1)),
    )


def _expand(values: list[Any], env: dict[str, str]) -> list[str]:
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
