"""Reading one manifest document: its name and namespace (`read_meta`, DNS labels checked), its
labels as sorted pairs, and the diagnostics of a whole manifest (`DocParser.error`: file, line,
field path, kind and name of the document). Shared by the manifest's parsers
(`registry.manifest`, `registry.mesh_config`). Never raises for user mistakes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pilotfish.config.objects import Diagnostic, Source
from pilotfish.registry.workloads import RawDocumentLike

T = TypeVar("T")
ParsedDocs = dict[int, tuple[object, object, tuple[Diagnostic, ...]]]
"""id(document data) -> (the data, what it parsed to, the diagnostics it gave)."""

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SUBDOMAIN_NAMED = frozenset({"Deployment", "Pod", "ServiceAccount", "Secret", "ConfigMap"})
"""Kinds Kubernetes names with a DNS subdomain (253 characters, dots allowed:
`helloworld-region1.zone1`); the others (Service, Namespace, pilotfish's Workload) with a DNS
label."""


@dataclass
class DocParser:
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, doc: RawDocumentLike, path: str, message: str) -> None:
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        name = meta.get("name", "") if isinstance(meta, dict) else ""
        self.diagnostics.append(
            Diagnostic(
                level="error",
                message=message,
                path=path,
                source=Source(doc.source.file, doc.line_of(path) or doc.source.line),
                kind=doc.kind,
                name=str(name),
            )
        )


def labels(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def read_meta(p: DocParser, doc: RawDocumentLike) -> tuple[str, str, dict[str, Any]] | None:
    meta = doc.data.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        p.error(doc, "metadata.name", "is required")
        return None
    name, namespace = meta["name"], meta.get("namespace", "default")
    if doc.kind in SUBDOMAIN_NAMED and not (DNS_SUBDOMAIN.match(name) and len(name) <= 253):
        p.error(doc, "metadata.name", f"{name!r} is not a valid DNS subdomain")
        return None
    if doc.kind not in SUBDOMAIN_NAMED and not DNS_LABEL.match(name):
        p.error(doc, "metadata.name", f"{name!r} is not a valid DNS label")
        return None
    if not isinstance(namespace, str) or not DNS_LABEL.match(namespace):
        p.error(doc, "metadata.namespace", f"{namespace!r} is not a valid DNS label")
        return None
    return name, namespace, meta


def parsed_once(
    memo: ParsedDocs | None,
    p: DocParser,
    doc: RawDocumentLike,
    parse: Callable[[DocParser, RawDocumentLike], T],
) -> T:
    """`parse(p, doc)`, or what it gave (and the diagnostics it added) for the same document
    data object, kept in `memo`: for stored documents, which are never mutated (a change of
    the mesh ConfigMap does not parse the thousands of Workloads beside it again)."""
    if memo is None:
        return parse(p, doc)
    found = memo.get(id(doc.data))
    if found is None or found[0] is not doc.data:
        start = len(p.diagnostics)
        result = parse(p, doc)
        memo[id(doc.data)] = (doc.data, result, tuple(p.diagnostics[start:]))
        return result
    p.diagnostics.extend(found[2])
    return found[1]  # type: ignore[return-value]  # what `parse` gave for this document
