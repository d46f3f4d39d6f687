"""What `pilotfish analyze --use-mesh` analyses: the running mesh's stored documents, with the
files given by `-f` replacing objects of the same kind, namespace and name (as istioctl analyze
lets local files override cluster resources).

`combine(mesh_documents, files)` → a `LoadResult`; mesh objects carry no file (istioctl prints
cluster resources without a location). Pure: the documents come decoded from the API.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.load import DEFAULT_NAMESPACE, LoadResult, load_document
from pilotfish.config.objects import Source
from pilotfish.config.yaml_text import RawDocument

Key = tuple[str, str, str]


def _key(data: dict[str, Any]) -> Key:
    meta = data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (
        str(data.get("kind") or ""),
        str(meta.get("namespace") or DEFAULT_NAMESPACE),
        str(meta.get("name") or ""),
    )


def _file_keys(files: LoadResult) -> set[Key]:
    keys = {obj.meta.key for obj in files.objects}
    keys |= {_key(doc.data) for doc in files.others}
    for diagnostic in files.diagnostics:  # documents rejected by validation still override
        namespace, _, name = diagnostic.name.partition("/")
        if diagnostic.kind and name:
            keys.add((diagnostic.kind, namespace, name))
    return keys


def combine(mesh_documents: list[Any], files: LoadResult) -> LoadResult:
    overridden = _file_keys(files)
    result = LoadResult()
    for data in mesh_documents:
        if isinstance(data, dict) and _key(data) not in overridden:
            load_document(RawDocument(data, Source()), result)
    result.extend(files)
    return result
