"""Parsing a change: (source, text) pairs -> Istio objects + the manifest, with diagnostics.

Shared by the CLI (to fail fast, before touching the mesh) and the control plane (which decides).
Light on imports on purpose: the CLI loads it on every `apply`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.load import LoadResult, load_document
from pilotfish.config.objects import ConfigObject, Diagnostic, Source
from pilotfish.config.yaml_text import RawDocument, parse_yaml
from pilotfish.registry.manifest import (
    WORKDIR_ANNOTATION,
    Manifest,
    is_manifest_kind,
    parse_manifest,
)


@dataclass
class Parsed:
    objects: list[ConfigObject[Any]]
    manifest: Manifest
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.level == "error" for d in self.diagnostics)


CLUSTER_SCOPED = ("Namespace",)


def parse_documents(
    files: list[tuple[str, str]], namespace: str | None = None
) -> tuple[list[dict[str, Any]], Parsed]:
    """Load (source, text) pairs with Galley; returns the raw documents and what they parse to.

    As kubectl does, a `v1 List` stands for its items, and `namespace` (`-n`) is given to every
    namespaced document that names none (one naming another is an error)."""
    raws: list[dict[str, Any]] = []
    objects: list[ConfigObject[Any]] = []
    others = []
    diagnostics: list[Diagnostic] = []
    for source, text in files:
        result = _load(text, source, namespace)
        diagnostics.extend(result.diagnostics)
        for obj in result.objects:
            objects.append(obj)
            raws.append(obj.raw)
        for doc in result.others:
            if is_manifest_kind(doc.api_version, doc.kind):
                _remember_workdir(doc.data, source)
                others.append(doc)
                raws.append(doc.data)
            else:
                diagnostics.append(
                    Diagnostic(
                        "warning",
                        f"{doc.api_version} {doc.kind} is not a kind pilotfish knows; ignored",
                        source=doc.source,
                        kind=doc.kind,
                    )
                )
    manifest, problems = parse_manifest(others)
    diagnostics.extend(problems)
    return raws, Parsed(objects, manifest, diagnostics)


def _load(text: str, source: str, namespace: str | None) -> LoadResult:
    documents, syntax = parse_yaml(text, source)
    result = LoadResult(diagnostics=list(syntax))
    for document in expand_lists(documents):
        if namespace and document.kind not in CLUSTER_SCOPED:
            meta = document.data.get("metadata")
            if isinstance(meta, dict) and not meta.get("namespace"):
                meta["namespace"] = namespace
            elif isinstance(meta, dict) and meta.get("namespace") != namespace:
                message = (
                    f"the namespace from the provided object {meta.get('namespace')!r} does not"
                    f" match the namespace {namespace!r}: pass --namespace"
                    f" {meta.get('namespace')} (or none)"
                )
                result.diagnostics.append(
                    Diagnostic("error", message, source=document.source, kind=document.kind)
                )
                continue
        load_document(document, result)
    return result


def expand_lists(documents: list[RawDocument]) -> list[RawDocument]:
    """Each `v1 List` document replaced by its items (`get -o json|yaml` output applies back)."""
    out: list[RawDocument] = []
    for document in documents:
        items = document.data.get("items")
        if document.kind != "List" or not isinstance(items, list):
            out.append(document)
            continue
        for index, item in enumerate(items):
            prefix = f"items[{index}]"
            lines = {
                path[len(prefix) + 1 :]: line
                for path, line in document.lines.items()
                if path.startswith(prefix + ".")
            }
            where = Source(document.source.file, document.line_of(prefix))
            out.append(RawDocument(item if isinstance(item, dict) else {}, where, lines))
    return out


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
    """The manifest held in stored documents (cheap: no YAML involved)."""
    return parse_manifest(
        StoredDocument(d)
        for d in docs
        if is_manifest_kind(str(d.get("apiVersion")), str(d.get("kind")))
    )
