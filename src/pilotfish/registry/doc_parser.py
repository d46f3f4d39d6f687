"""Reading one manifest document: its name and namespace (`read_meta`, DNS labels checked), its
labels as sorted pairs, and the diagnostics of a whole manifest (`DocParser.error`: file, line,
field path, kind and name of the document). Shared by the manifest's parsers
(`registry.manifest`, `registry.mesh_config`). Never raises for user mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.objects import Diagnostic, Source
from pilotfish.registry.workloads import RawDocumentLike

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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
    if not DNS_LABEL.match(name):
        p.error(doc, "metadata.name", f"{name!r} is not a valid DNS label")
        return None
    if not isinstance(namespace, str) or not DNS_LABEL.match(namespace):
        p.error(doc, "metadata.namespace", f"{namespace!r} is not a valid DNS label")
        return None
    return name, namespace, meta
