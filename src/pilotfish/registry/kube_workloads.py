"""Kubernetes workload YAML, unchanged: `apps/v1 Deployment` and `v1 Pod` -> `WorkloadSpec`.

What local mode honours: `replicas`, the pod's labels (the template's, for a Deployment) and
annotations (`sidecar.istio.io/inject`, also as a pod label, which wins as in Istio's injector;
`traffic.sidecar.istio.io/*`, `prometheus.io/*` are carried; `proxy.istio.io/config`'s
`terminationDrainDuration` and `proxyMetadata` as for Workloads), `serviceAccountName`,
`restartPolicy`, and every container (`registry.kube_containers`: image through the image map,
command, args, env, ports, readiness probe). The pod's containers share its network: their names
must differ and no two may declare one port (errors naming the field). Other Kubernetes fields
are accepted and not used; fields Kubernetes does not have are warned about (`FIELDS`), as
unknown fields of Istio kinds.

Images resolve at apply time (`resolve_images`): the local command is kept on the stored
document in the `pilotfish.io/images` annotation, so a stored Deployment needs no map later.
Pure: no I/O. Must not import the agent, the CLI or the control plane.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pilotfish.config.objects import Diagnostic, Level, Source
from pilotfish.config.proxy_metadata import PROXY_CONFIG_ANNOTATION, parse_proxy_config_annotation
from pilotfish.registry.drain import (
    annotation_drain,
    annotation_stats_inclusion,
    annotation_tracing,
    annotation_trusted_proxies,
)
from pilotfish.registry.env_sources import EnvSources
from pilotfish.registry.images import ImageMap
from pilotfish.registry.injection import recorded_injection
from pilotfish.registry.kube_containers import PodContext, parse_container
from pilotfish.registry.kube_fields import FIELDS, unknown_fields
from pilotfish.registry.sidecar_options import sidecar_options
from pilotfish.registry.workloads import (
    DEFAULT_GRACE_SECONDS,
    IMAGES_ANNOTATION,
    INJECT_ANNOTATION,
    PILOTFISH_ANNOTATIONS,
    RESTART_POLICIES,
    Container,
    RawDocumentLike,
    WorkloadSpec,
    rewrites_probes,
)

KUBE_WORKLOAD_KINDS = frozenset({("apps/v1", "Deployment"), ("v1", "Pod")})

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
    if _list(spec.get("initContainers")):
        report(
            "warning", f"{prefix}spec.initContainers", "init containers do not run in local mode"
        )
    pod = PodContext(doc, namespace, pod_meta, spec, sources, require_images)
    containers, config_error = _containers(pod, f"{prefix}spec.containers", report, error)
    policy = _restart_policy(doc.kind, spec, f"{prefix}spec.restartPolicy", error)
    grace = _grace_period(spec, f"{prefix}spec.terminationGracePeriodSeconds", error)
    notes = {str(k): str(v) for k, v in _map(pod_meta.get("annotations")).items()}
    drain_errors: list[tuple[str, str]] = []
    drain = annotation_drain(notes, drain_errors)
    trusted = annotation_trusted_proxies(notes, drain_errors)
    tracing = annotation_tracing(notes, drain_errors)
    stats = annotation_stats_inclusion(notes, drain_errors)
    found: list[tuple[str, str]] = []  # proxyMetadata, as for Workloads (YAML errors: drain's)
    metadata = parse_proxy_config_annotation(notes.get(PROXY_CONFIG_ANNOTATION, ""), found)
    drain_errors += [e for e in found if not e[0].endswith(f"[{PROXY_CONFIG_ANNOTATION}]")]
    for path, message in drain_errors:
        error(f"{prefix}{path}", message)
    options = sidecar_options(notes, namespace, sources, prefix, report)
    if errors or not containers or options is None:
        return None
    first, more = containers[0], tuple(containers[1:])
    labels = _map(pod_meta.get("labels"))
    inject = labels.get(INJECT_ANNOTATION, notes.get(INJECT_ANNOTATION))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    own_notes = [(k, v) for k, v in notes.items() if k not in PILOTFISH_ANNOTATIONS]
    return options.applied(WorkloadSpec(
        name=name,
        namespace=namespace,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        replicas=replicas,
        service_account=str(account),
        command=first.command,
        env=first.env,
        ports=tuple(p for c in containers for p in c.ports),
        workdir=first.workdir,
        annotations=tuple(sorted(own_notes)),
        sidecar=recorded_injection(
            _map(_map(doc.data.get("metadata")).get("annotations")),
            str(inject).lower() != "false" if inject is not None else True,
        ),
        termination_drain=drain,
        stats_inclusion=stats,
        num_trusted_proxies=trusted,
        tracing=tracing,
        proxy_metadata=metadata,
        readiness=first.readiness,
        liveness=first.liveness,
        startup=first.startup,
        rewrite_probes=rewrites_probes(notes),
        kind=doc.kind,
        config_error=config_error,
        container=first.name,
        more=more,
        restart_policy=policy,
        termination_grace=grace,
    ))  # fmt: skip


def _containers(
    pod: PodContext, at: str, report: Report, error: Callable[[str, str], None]
) -> tuple[list[Container], str]:
    """Every container of the pod, in its order, and the first config error the kubelet meets
    (""). Kubernetes' pod-wide rules: at least one container, names unique; and, as the
    containers share the pod's network, no port declared by two of them."""
    raws = _list(pod.spec.get("containers"))
    if not raws:
        error(at, "Required value: a pod runs at least one container")
        return [], ""
    found: list[Container] = []
    config_error = ""
    names: dict[str, int] = {}
    owners: dict[int, tuple[str, str]] = {}  # port -> (container, field path)
    for index, raw in enumerate(raws):
        where = f"{at}[{index}]"
        parsed = parse_container(pod, raw, where, report, error)
        if parsed is None:
            continue
        container, problem = parsed
        config_error = config_error or problem
        if container.name in names:
            error(f"{where}.name", f'Duplicate value: "{container.name}" (also '
                  f"{at}[{names[container.name]}].name)")  # fmt: skip
        names.setdefault(container.name, index)
        for number in container.ports:
            if number in owners:
                other, path = owners[number]
                error(_port_path(raw, where, number), f"{number} is already container "
                      f"{other!r}'s ({path}): the containers of a pod share its network, and "
                      "two cannot listen on one port")  # fmt: skip
            else:
                owners[number] = (container.name, _port_path(raw, where, number))
        found.append(container)
    return found, config_error


def _port_path(raw: dict[str, Any], at: str, number: int) -> str:
    """The field path of the first `containerPort: number` of the container `raw`."""
    for index, port in enumerate(_list(raw.get("ports"))):
        if _map(port).get("containerPort") == number:
            return f"{at}.ports[{index}].containerPort"
    return f"{at}.ports"


def _restart_policy(
    kind: str, spec: dict[str, Any], at: str, error: Callable[[str, str], None]
) -> str:
    """The pod's `restartPolicy` (Kubernetes': Always by default; a Deployment's pods only
    Always)."""
    policy = spec.get("restartPolicy", "Always")
    allowed = ("Always",) if kind == "Deployment" else RESTART_POLICIES
    if policy not in allowed:
        choices = ", ".join(f'"{p}"' for p in allowed)
        error(at, f'Unsupported value: "{policy}": supported values: {choices}')
        return "Always"
    return str(policy)


def _grace_period(spec: dict[str, Any], at: str, error: Callable[[str, str], None]) -> int:
    """The pod's `terminationGracePeriodSeconds` (Kubernetes': 30 when unset; not negative)."""
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        return DEFAULT_GRACE_SECONDS
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        error(at, f"Invalid value: {grace!r}: must be greater than or equal to 0")
        return DEFAULT_GRACE_SECONDS
    return grace


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


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
