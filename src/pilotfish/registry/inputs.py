"""Parsing a change: (source, text) pairs -> Istio objects + the manifest, with diagnostics;
and the manifest held in already stored documents (`manifest_of`).

A Gateway of class `istio` brings the objects of its automated deployment with it
(`config.gateway_api.deployment`), as Istio's gateway controller creates them. Shared by the
CLI (to fail fast, before touching the mesh), the control plane (which decides) and the agent
(service environment variables). Light on imports on purpose: the CLI loads it on every `apply`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.doc_filters import ids, manifest_docs, same_objects
from pilotfish.config.gateway_api.deployment import deployment_documents
from pilotfish.config.load import load
from pilotfish.config.objects import ConfigObject, Diagnostic, Source
from pilotfish.config.unenforced import unenforced_notes
from pilotfish.config.yaml_text import RawDocument
from pilotfish.registry.annotation_support import metadata_warnings
from pilotfish.registry.bootstrap_override import OVERRIDE_KEY, config_map_warning
from pilotfish.registry.doc_parser import ParsedDocs
from pilotfish.registry.host_ports import clashes
from pilotfish.registry.images import ImageMap, ImageMapError
from pilotfish.registry.injection import (
    REVISION_LABEL,
    namespace_labels,
    revision_warning,
    stamp_injection,
)
from pilotfish.registry.kube_workloads import (
    diagnostics_for,
    is_kube_workload,
    pod_parts,
    resolve_images,
)
from pilotfish.registry.manifest import Manifest, parse_manifest
from pilotfish.registry.workloads import WORKDIR_ANNOTATION, WorkloadSpec


@dataclass
class Parsed:
    objects: list[ConfigObject[Any]]
    manifest: Manifest
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.level == "error" for d in self.diagnostics)


def parse_documents(
    files: list[tuple[str, str]],
    namespace: str | None = None,
    images: Callable[[], ImageMap] | None = None,
    namespaces: dict[str, dict[str, str]] | None = None,
    sharing_host: Iterable[WorkloadSpec] | None = None,
) -> tuple[list[dict[str, Any]], Parsed]:
    """Load (source, text) pairs with `pilotfish.config.load`; returns the raw documents and
    what they parse to: Istio objects and the manifest (`namespace` is `-n`). With `images`
    (the control plane, on apply), each Deployment's and Pod's images are resolved to local
    commands and recorded on the document; without, unresolved images are not checked. With
    `namespaces` (the labels of the namespaces created explicitly, on apply), each workload's
    sidecar injection is decided and recorded (`pilotfish.registry.injection`). With
    `sharing_host` (the running mesh's workloads, on apply in the shared mode), a pod may not
    listen on a port of the host's loopback another one takes (`registry.host_ports`)."""
    raws: list[dict[str, Any]] = []
    objects: list[ConfigObject[Any]] = []
    others = []
    diagnostics: list[Diagnostic] = []
    for source, text in files:
        result = load(text, source, namespace=namespace, warn_unknown_kinds=True)
        diagnostics.extend(result.diagnostics)
        for obj in result.objects:
            objects.append(obj)
            raws.append(obj.raw)
            diagnostics.extend(unenforced_notes(obj))
        for owned in [d for g in result.others for d in deployment_documents(g.data)]:
            result.others.append(RawDocument(owned, Source(source), {}))  # Istio's controller's
        for doc in result.others:
            _remember_workdir(doc.data, source)
            _unapplied_notes(doc, diagnostics)
            if images is not None and is_kube_workload(doc):
                _resolve(doc, images, diagnostics)
            others.append(doc)
            raws.append(doc.data)
    if namespaces is not None:
        known = {**namespaces, **namespace_labels([d.data for d in others])}
        _decide_injection(others, known, diagnostics)
    manifest, problems = parse_manifest(others, require_images=False)  # `_resolve` said it
    diagnostics.extend(problems)
    if sharing_host is not None:
        diagnostics.extend(clashes(others, manifest.workloads, sharing_host))
    return raws, Parsed(objects, manifest, diagnostics)


def _resolve(doc: RawDocument, images: Callable[[], ImageMap], found: list[Diagnostic]) -> None:
    try:
        chosen = images()
    except ImageMapError as exc:
        found.append(Diagnostic("error", str(exc), source=doc.source, kind=doc.kind))
        return
    resolve_images(doc, chosen, diagnostics_for(doc, found))


def _unapplied_notes(doc: RawDocument, found: list[Diagnostic]) -> None:
    """What `apply` (and `up`) say about what a document asks for and gets nothing: Istio's
    annotations and labels of pods, Services and Namespaces with no effect here
    (`registry.annotation_support`), a bootstrap override no sidecar can read."""
    meta = _map(doc.data.get("metadata"))
    report = diagnostics_for(doc, found)
    if (doc.api_version, doc.kind) == ("v1", "ConfigMap"):
        if text := config_map_warning(_map(doc.data.get("data"))):
            report("warning", f"data[{OVERRIDE_KEY}]", text)
        return
    prefix = ""
    if is_kube_workload(doc) or doc.kind == "Workload":
        prefix, meta, _ = pod_parts(doc)
    elif (doc.api_version, doc.kind) not in (("v1", "Namespace"), ("v1", "Service")):
        return
    labels, notes = (_map(meta.get(k)) for k in ("labels", "annotations"))
    for path, text in metadata_warnings(doc.kind, labels, notes, prefix):
        report("warning", path, text)


def _decide_injection(
    docs: list[RawDocument], namespaces: dict[str, dict[str, str]], found: list[Diagnostic]
) -> None:
    """Record each workload's injection decision; warn about a revision no webhook serves."""
    for doc in docs:
        meta = doc.data.get("metadata")
        if not isinstance(meta, dict):
            continue
        report = diagnostics_for(doc, found)
        if (doc.api_version, doc.kind) == ("v1", "Namespace"):
            if text := revision_warning("Namespace", _map(meta.get("labels")), None):
                report("warning", f"metadata.labels[{REVISION_LABEL}]", text)
            continue
        if not (is_kube_workload(doc) or doc.kind == "Workload"):
            continue
        namespace = meta.get("namespace") or "default"
        prefix, pod_meta, _ = pod_parts(doc)
        stamp_injection(meta, pod_meta, namespaces.get(str(namespace)))
        labels, notes = (_map(pod_meta.get(k)) for k in ("labels", "annotations"))
        if text := revision_warning(doc.kind, labels, namespaces.get(str(namespace)), notes):
            report("warning", f"{prefix}metadata.labels[{REVISION_LABEL}]", text)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _remember_workdir(data: dict[str, Any], source: str) -> None:
    if data.get("kind") != "Workload" or source.startswith("<"):
        return
    meta = data.setdefault("metadata", {})
    notes = meta.setdefault("annotations", {})
    notes.setdefault(WORKDIR_ANNOTATION, os.path.dirname(os.path.realpath(source)))


@dataclass(frozen=True)
class StoredDocument:
    """A document already validated and stored, seen as the manifest parser wants it."""

    data: dict[str, Any]
    source: Source = field(default_factory=lambda: Source("<store>"))

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    def line_of(self, path: str) -> int:
        return 0


def manifest_of(docs: list[dict[str, Any]]) -> tuple[Manifest, list[Diagnostic]]:
    """The manifest held in stored documents (cheap: no YAML involved). Recent results are
    kept: a change that brings no manifest document (stored documents are never mutated, so
    the same objects mean the same manifest) does not parse thousands of them again, and the
    registry keeps the same `Service` objects."""
    chosen = manifest_docs(docs)
    key = ids(chosen)
    known = _recent_manifests.get(key)
    if known is not None and same_objects(known[0], chosen):
        return known[1][0], list(known[1][1])
    result = parse_manifest((StoredDocument(d) for d in chosen), memo=_parsed)
    for gone in _parsed.keys() - set(key):  # each document parsed once while it is stored
        del _parsed[gone]
    _recent_manifests[key] = (chosen, result)
    while len(_recent_manifests) > 4:
        del _recent_manifests[next(iter(_recent_manifests))]
    return result


_recent_manifests: dict[tuple[int, ...], Any] = {}
_parsed: ParsedDocs = {}
