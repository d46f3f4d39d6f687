"""The local mesh manifest: Kubernetes-shaped `v1 Service`, `v1 ServiceAccount`, `v1 Namespace`,
`apps/v1 Deployment` and `v1 Pod` (as written for Kubernetes: `pilotfish.registry.kube_workloads`)
and pilotfish's `pilotfish.io/v1alpha1 Workload` (a Deployment shorthand), parsed into typed form
(Services: `registry.manifest_services`).

A Workload document:

    apiVersion: pilotfish.io/v1alpha1
    kind: Workload
    metadata: {name: reviews-v2, namespace: default, labels: {app: reviews, version: v2}}
    spec:
      replicas: 1                      # default 1
      serviceAccount: bookinfo-reviews # default "default"
      command: ["python", "src/reviews/reviews.py"]  # relative to the working directory:
      workingDir: src                  # optional; relative to the manifest's folder, or absolute
      env: {ENABLE_RATINGS: "true"}
      ports: [9080]                    # container ports served behind the sidecar

As in Istio, the annotation `sidecar.istio.io/inject: "false"` runs the workload with no
sidecar: its app listens on the instance address itself and talks plaintext (a "legacy" pod);
`proxy.istio.io/config` (a ProxyConfig) overrides the mesh's `proxyMetadata` for its pods
(`pilotfish.config.proxy_metadata`: SECRET_TTL, ECC_SIGNATURE_ALGORITHM, ...).

Also accepted: `v1 Secret` (gateway `credentialName` TLS: `tls.crt`, `tls.key`, `ca.crt`, `data`
or `stringData`), Istio's mesh ConfigMaps (`registry.mesh_config`), any ConfigMap or Secret as a
pod's env (`registry.env_sources`), the Prometheus Operator's `PrometheusRule` and
`ServiceMonitor` (`registry.monitoring`).
Parsing never raises for user mistakes: problems come back as `Diagnostic`s with field paths.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from pilotfish.config.kinds import MANIFEST_API, MONITORING_API
from pilotfish.config.mesh_security import MeshSecurity
from pilotfish.config.mesh_telemetry import MeshTelemetry, with_legacy_tracing
from pilotfish.config.objects import Diagnostic, Source
from pilotfish.config.proxy_metadata import (
    PROXY_CONFIG_ANNOTATION,
    ProxyMetadata,
    parse_proxy_config_annotation,
)
from pilotfish.registry.doc_parser import DocParser, ParsedDocs, labels, parsed_once, read_meta
from pilotfish.registry.drain import (
    annotation_drain,
    annotation_stats_inclusion,
    annotation_tracing,
    annotation_trusted_proxies,
)
from pilotfish.registry.env_sources import EnvSources, env_sources, reads_sources
from pilotfish.registry.injection import recorded_injection
from pilotfish.registry.kube_workloads import diagnostics_for, is_kube_workload, parse_kube_workload
from pilotfish.registry.manifest_services import parse_service
from pilotfish.registry.mesh_config import (
    InjectorValues,
    MeshSettings,
    injector_values,
    legacy_tracing,
    parse_mesh_configmap,
)
from pilotfish.registry.monitoring import (
    PrometheusRule,
    ServiceMonitor,
    parse_prometheus_rule,
    parse_service_monitor,
)
from pilotfish.registry.sidecar_options import with_sidecar_options
from pilotfish.registry.types import Service, TlsSecret
from pilotfish.registry.workloads import (
    INJECT_ANNOTATION,
    PILOTFISH_ANNOTATIONS,
    RESERVED_PORTS,
    WORKDIR_ANNOTATION,
    RawDocumentLike,
    WorkloadSpec,
)


@dataclass(frozen=True)
class Manifest:
    services: tuple[Service, ...] = ()
    workloads: tuple[WorkloadSpec, ...] = ()
    service_accounts: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    namespaces: tuple[str, ...] = ()
    secrets: tuple[TlsSecret, ...] = ()
    outbound_traffic_policy: str = ""  # from the `istio` mesh ConfigMap; "" = not set
    telemetry: MeshTelemetry = field(default_factory=MeshTelemetry)  # ditto, + `istio-tracing`
    security: MeshSecurity = field(default_factory=MeshSecurity)  # ditto: authz settings
    mesh: MeshSettings = field(default_factory=lambda: MeshSettings())
    prometheus_rules: tuple[PrometheusRule, ...] = ()
    service_monitors: tuple[ServiceMonitor, ...] = ()

    def workload(self, name: str) -> WorkloadSpec | None:
        return next((w for w in self.workloads if w.name == name), None)


def _parse_workload(p: DocParser, doc: RawDocumentLike) -> WorkloadSpec | None:
    head = read_meta(p, doc)
    spec = doc.data.get("spec")
    if head is None:
        return None
    if not isinstance(spec, dict):
        p.error(doc, "spec", "is required")
        return None
    name, namespace, meta = head
    ok = True
    command = spec.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        p.error(doc, "spec.command", "must be a non-empty list of strings")
        ok = False
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= 100:
        p.error(doc, "spec.replicas", "must be an integer from 0 to 100")
        ok = False
    env = spec.get("env") or {}
    if not isinstance(env, dict):
        p.error(doc, "spec.env", "must be a map of strings")
        ok = False
    ports = spec.get("ports") or []
    if not isinstance(ports, list) or not all(
        isinstance(x, int) and 0 < x < 65536 and x not in RESERVED_PORTS for x in ports
    ):
        p.error(doc, "spec.ports", f"must be a list of ports 1-65535, not {sorted(RESERVED_PORTS)}")
        ok = False
    drain_errors: list[tuple[str, str]] = []
    drain = annotation_drain(dict(labels(meta.get("annotations"))), drain_errors)
    trusted = annotation_trusted_proxies(dict(labels(meta.get("annotations"))), drain_errors)
    tracing = annotation_tracing(dict(labels(meta.get("annotations"))), drain_errors)
    stats = annotation_stats_inclusion(dict(labels(meta.get("annotations"))), drain_errors)
    for path, message in drain_errors:
        p.error(doc, path, message)
    if not ok or drain_errors:
        return None
    return WorkloadSpec(
        name=name,
        namespace=namespace,
        labels=labels(meta.get("labels")),
        replicas=replicas,
        service_account=str(spec.get("serviceAccount", "default")),
        command=tuple(str(c) for c in command or ()),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items())),  # stored order may differ
        ports=tuple(ports),
        workdir=os.path.normpath(
            os.path.join(_workdir(meta, doc.source), str(spec.get("workingDir") or "."))
        ),
        annotations=tuple(
            (k, v) for k, v in labels(meta.get("annotations")) if k not in PILOTFISH_ANNOTATIONS
        ),
        sidecar=_injected(meta),
        termination_drain=drain,
        stats_inclusion=stats,
        proxy_metadata=_pod_proxy_metadata(p, doc, meta),
        num_trusted_proxies=trusted,
        tracing=tracing,
    )


def _pod_proxy_metadata(p: DocParser, doc: RawDocumentLike, meta: dict[str, Any]) -> ProxyMetadata:
    notes = meta.get("annotations")
    if not isinstance(notes, dict) or PROXY_CONFIG_ANNOTATION not in notes:
        return ProxyMetadata()
    errors: list[tuple[str, str]] = []
    found = parse_proxy_config_annotation(notes[PROXY_CONFIG_ANNOTATION], errors)
    for path, message in errors:
        if path != f"metadata.annotations[{PROXY_CONFIG_ANNOTATION}]":  # `drain` reports those
            p.error(doc, path, message)
    return found


def _parse_any_workload(
    p: DocParser, doc: RawDocumentLike, images: bool, sources: EnvSources
) -> WorkloadSpec | None:
    if doc.kind == "Workload":
        found = _parse_workload(p, doc)
        return with_sidecar_options(found, sources, diagnostics_for(doc, p.diagnostics))
    head = read_meta(p, doc)
    if head is None:
        return None
    report = diagnostics_for(doc, p.diagnostics)
    return parse_kube_workload(doc, head[0], head[1], report, images, sources)


def _injected(meta: dict[str, Any]) -> bool:
    notes = meta.get("annotations")
    notes = notes if isinstance(notes, dict) else {}
    value = notes.get(INJECT_ANNOTATION)
    return recorded_injection(notes, str(value).lower() != "false" if value is not None else True)


def _workdir(meta: dict[str, Any], source: Source) -> str:
    notes = meta.get("annotations")
    if isinstance(notes, dict) and isinstance(notes.get(WORKDIR_ANNOTATION), str):
        return str(notes[WORKDIR_ANNOTATION])
    return os.path.dirname(os.path.abspath(source.file)) if source.file else "."


def _parse_secret(p: DocParser, doc: RawDocumentLike) -> TlsSecret | None:
    head = read_meta(p, doc)
    if head is None:
        return None
    name, namespace, _ = head
    values: dict[str, str] = {}
    for key, raw in dict(doc.data.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(raw), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            p.error(doc, f"data.{key}", "is not base64 of UTF-8 text")
            return None
    values.update({str(k): str(v) for k, v in dict(doc.data.get("stringData") or {}).items()})
    return TlsSecret(
        name=name,
        namespace=namespace,
        certificate=values.get("tls.crt", values.get("cert", "")),
        private_key=values.get("tls.key", values.get("key", "")),
        ca_certificate=values.get("ca.crt", values.get("cacert", "")),
        data=tuple(sorted(values.items())),
    )


def _monitoring(p: DocParser, doc: RawDocumentLike) -> PrometheusRule | ServiceMonitor | None:
    head = read_meta(p, doc)
    if head is None:
        return None
    name, namespace, _ = head
    errors: list[tuple[str, str]] = []
    spec = doc.data.get("spec")
    found: PrometheusRule | ServiceMonitor | None = None
    if doc.kind == "PrometheusRule":
        found = parse_prometheus_rule(name, namespace, spec, errors)
    elif doc.kind == "ServiceMonitor":
        found = parse_service_monitor(name, namespace, spec, errors)
    for path, message in errors:
        if path != f"metadata.annotations[{PROXY_CONFIG_ANNOTATION}]":  # `drain` reports those
            p.error(doc, path, message)
    return found


def parse_manifest(
    docs: Iterable[RawDocumentLike], require_images: bool = True, memo: ParsedDocs | None = None
) -> tuple[Manifest, list[Diagnostic]]:
    """Without `require_images`, a Deployment or Pod whose images were not resolved yet (the
    CLI's check before sending a change) is not an error (`kube_workloads`). `memo`: Services
    and workloads parsed once per document object (`doc_parser.parsed_once`), but for pods
    whose env reads ConfigMaps or Secrets."""
    p = DocParser()
    services: dict[tuple[str, str], Service] = {}
    workloads: dict[tuple[str, str], WorkloadSpec] = {}
    accounts: set[tuple[str, str]] = set()
    namespaces: set[str] = {"default"}
    secrets: dict[tuple[str, str], TlsSecret] = {}
    mesh_settings = MeshSettings()
    injector = InjectorValues(False, False)  # the install's values (`mesh_config`)
    telemetry = MeshTelemetry()
    security = MeshSecurity()
    tracing_endpoint = ""
    rules: dict[tuple[str, str], PrometheusRule] = {}
    monitors: dict[tuple[str, str], ServiceMonitor] = {}
    docs = [d for d in docs if isinstance(d.data, dict)]
    any_workload = partial(_parse_any_workload, images=require_images, sources=env_sources(docs))
    for doc in docs:
        if (doc.api_version, doc.kind) == ("v1", "Service"):
            svc = parsed_once(memo, p, doc, parse_service)
            if svc is not None:
                services[(svc.namespace, svc.name)] = svc
                namespaces.add(svc.namespace)
        elif (doc.api_version, doc.kind) == (MANIFEST_API, "Workload") or is_kube_workload(doc):
            own = None if reads_sources(doc) else memo  # a pod reading ConfigMaps, Secrets
            wl = parsed_once(own, p, doc, any_workload)
            if wl is not None:
                if (wl.namespace, wl.name) in workloads:
                    p.error(doc, "metadata.name", f"duplicate workload {wl.namespace}/{wl.name}")
                workloads[(wl.namespace, wl.name)] = wl
                namespaces.add(wl.namespace)
        elif (doc.api_version, doc.kind) == ("v1", "ServiceAccount"):
            head = read_meta(p, doc)
            if head:
                accounts.add((head[1], head[0]))
        elif (doc.api_version, doc.kind) == ("v1", "Secret"):
            secret = _parse_secret(p, doc)
            if secret is not None:
                secrets[(secret.namespace, secret.name)] = secret
        elif (doc.api_version, doc.kind) == ("v1", "ConfigMap"):
            found_mesh = parse_mesh_configmap(p, doc)
            if found_mesh is not None:
                mesh_settings, telemetry, security = found_mesh
            tracing_endpoint = legacy_tracing(p, doc) or tracing_endpoint
            injector = injector_values(p, doc) or injector
        elif (doc.api_version, doc.kind) == ("v1", "Namespace"):
            head = read_meta(p, doc)
            if head:
                namespaces.add(head[0])
        elif doc.api_version == MONITORING_API:
            found = _monitoring(p, doc)
            if isinstance(found, PrometheusRule):
                rules[(found.namespace, found.name)] = found
            elif isinstance(found, ServiceMonitor):
                monitors[(found.namespace, found.name)] = found
    manifest = Manifest(
        services=tuple(sorted(services.values(), key=lambda s: (s.namespace, s.name))),
        workloads=tuple(sorted(workloads.values(), key=lambda w: (w.namespace, w.name))),
        service_accounts=tuple(sorted(accounts)),
        namespaces=tuple(sorted(namespaces)),
        secrets=tuple(secrets[k] for k in sorted(secrets)),
        outbound_traffic_policy=mesh_settings.outbound_traffic_policy,
        telemetry=with_legacy_tracing(telemetry, tracing_endpoint),
        security=security,
        mesh=replace(
            mesh_settings,
            injector_hold=injector.hold,
            tls_on_sidecar_ingress=injector.tls_on_sidecar_ingress,
        ),
        prometheus_rules=tuple(rules[k] for k in sorted(rules)),
        service_monitors=tuple(monitors[k] for k in sorted(monitors)),
    )
    return manifest, p.diagnostics
