"""The config store on disk: every applied document (Istio config and manifest), as YAML.

One file, `<state-dir>/config.yaml` (`pilotfish.state_files.STORE_FILE`), rewritten atomically
(temp file, fsync, rename) on every change, so a crash never leaves half a write. Documents are
kept as plain data and keyed by (apiVersion group, kind, namespace, name): applying a document
with the same key replaces it, across API versions of the same kind (v1 and v1beta1
VirtualService are one object). As the API server does, the store writes each object's
`creationTimestamp`, `uid`, `resourceVersion` and `generation` (`pilotfish.config.
server_meta`: what a document gives for them is not taken) and refuses a write whose
`resourceVersion` is stale (`StaleWrite`). Its write counter goes on from the highest
`resourceVersion` in the file when a control plane loads it, so versions survive restarts
(the file is their only record: written atomically with the documents).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pilotfish.config.doc_filters import manifest_docs
from pilotfish.config.gateway_api.deployment import owned_by_gateway
from pilotfish.config.kinds import kube_resource
from pilotfish.config.object_meta import DocKey as DocKey  # its home; kept importable here
from pilotfish.config.object_meta import doc_key as doc_key
from pilotfish.config.objects import ConfigObject, Diagnostic, Source
from pilotfish.config.server_meta import (
    RESOURCE_VERSION,
    conflict,
    latest_version,
    same_content,
    stamp,
)
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.state_files import write_atomically

Docs = dict[DocKey, dict[str, Any]]
Preview = tuple[list[dict[str, Any]], Docs, dict[DocKey, None], Docs]


def same_document(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for the server's fields (`uid`, `resourceVersion`…), counting a missing
    metadata.namespace as `default` (what `get -o yaml` prints)."""
    return same_content(a, b)


class StaleWrite(Exception):
    """A write gave a `resourceVersion` that is not the stored object's: (key, the API
    server's message) for each such document."""

    def __init__(self, stale: list[tuple[DocKey, str]]) -> None:
        super().__init__("; ".join(message for _, message in stale))
        self.stale = stale

    def diagnostics(self, objects: Iterable[ConfigObject[Any]]) -> list[Diagnostic]:
        """An error per stale document, naming its file and line where `objects` (those the
        write parsed) hold it."""
        sources = {doc_key(o.raw): o.meta.source for o in objects}
        return [
            Diagnostic(
                "error",
                message,
                source=sources.get(key, Source()),
                kind=key[1],
                name=f"{key[2]}/{key[3]}",
            )
            for key, message in self.stale
        ]


def format_key(key: DocKey) -> str:
    return f"{key[1]} {key[2]}/{key[3]}"


class DocumentStore:
    """Ordered documents by key. Callers validate first; the store only persists."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._docs: dict[DocKey, dict[str, Any]] = {}
        self._texts: dict[DocKey, tuple[dict[str, Any], str]] = {}
        """key -> (document, its YAML), in the order of `_docs` once a commit wrote them: a
        change re-renders only the documents it brings (stored documents are never mutated;
        the pure-Python emitter is slow)."""
        self._keys: dict[int, tuple[dict[str, Any], DocKey]] = {}
        """id(document) -> (document, its key), for the stored documents."""
        self._preview: Preview = ([], {}, {}, {})
        """The last preview: (documents, them by key, the keys it set or removed in order, the
        stored documents it started from)."""
        self.version = 0
        """The write counter: the `resourceVersion` of the last write (`server_meta`)."""
        self._preview_version = 0  # the counter after the last preview, adopted by its commit

    @property
    def text(self) -> str:
        return self._render(list(self._docs.values()))[0]

    def _render(
        self, docs: list[dict[str, Any]]
    ) -> tuple[str, dict[DocKey, tuple[dict[str, Any], str]]]:
        """The file's text for `docs`, and each one's (document, YAML) by key. After a
        preview of `docs`, only the documents it touched are looked at."""
        listed, keyed, touched, base = self._preview
        if listed is docs and base is self._docs and self._texts.keys() == base.keys():
            texts = dict(self._texts)
            for key in touched:
                doc = keyed.get(key)
                if doc is None:
                    texts.pop(key, None)
                else:
                    texts[key] = (doc, dump_yaml([doc]))
        else:
            texts = {}
            for doc in docs:
                key = self.key(doc)
                known = self._texts.get(key)
                texts[key] = known if known and known[0] is doc else (doc, dump_yaml([doc]))
        return "---\n".join(text for _, text in texts.values()), texts

    def read_text(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.exists() else ""

    def replace_all(self, docs: Iterable[dict[str, Any]]) -> None:
        self._docs = {self.key(d): d for d in docs}
        self.version = max(self.version, latest_version(self._docs.values()))
        self._keys = {id(d): (d, k) for k, d in self._docs.items()}
        self._texts = {k: t for k, t in self._texts.items() if self._docs.get(k) is t[0]}

    def key(self, doc: dict[str, Any]) -> DocKey:
        """`doc_key(doc)`, not computed again for a stored document (a change of one document
        in thousands looks every key up several times)."""
        known = self._keys.get(id(doc))
        return known[1] if known is not None and known[0] is doc else doc_key(doc)

    def keyed(self, docs: list[dict[str, Any]]) -> Mapping[DocKey, dict[str, Any]]:
        """`docs` by key (the last preview's own mapping when `docs` is its list)."""
        listed, keyed, _, _ = self._preview
        return keyed if listed is docs else {self.key(d): d for d in docs}

    def documents(self) -> list[dict[str, Any]]:
        return list(self._docs.values())

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self._docs.values() if d.get("kind") == kind]

    def manifest_documents(self) -> list[dict[str, Any]]:
        """The documents that make up the manifest (services, workloads, secrets, mesh)."""
        return manifest_docs(self._docs.values())

    def preview_apply(
        self, docs: Iterable[dict[str, Any]], now: float
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The documents after applying `docs` at `now` (epoch seconds), and a line per change
        (created, configured…). Raises StaleWrite (nothing previewed) when a document gives a
        `resourceVersion` other than its stored object's."""
        docs = list(docs)
        stale = [(key, found) for key, found in self._conflicts(docs) if found]
        if stale:
            raise StaleWrite(stale)
        merged = dict(self._docs)
        changes: list[str] = []
        touched: dict[DocKey, None] = {}  # in order: new documents go last, in it
        version = self.version
        for doc in docs:
            key = doc_key(doc)
            touched[key] = None
            before = merged.get(key)
            verb = stamp(doc, before, now, version + 1)
            if (doc.get("metadata") or {}).get(RESOURCE_VERSION) == str(version + 1):
                version += 1  # a write that changed something
            merged[key] = doc
            if not owned_by_gateway(doc):  # created by Istio's controller: kubectl says nothing
                changes.append(f"{kube_resource(key[0], key[1])}/{key[3]} {verb}")
        self._preview = (list(merged.values()), merged, touched, self._docs)
        self._preview_version = version
        return self._preview[0], changes

    def _conflicts(self, docs: list[dict[str, Any]]) -> list[tuple[DocKey, str | None]]:
        return [(key, conflict(doc, self._docs.get(key))) for doc in docs for key in [doc_key(doc)]]

    def preview_delete(
        self, keys: Iterable[DocKey]
    ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        """Documents after deleting `keys`; lines for deleted ones; lines for keys not found."""
        merged = dict(self._docs)
        deleted, missing = [], []
        touched: dict[DocKey, None] = {}  # in order: new documents go last, in it
        for key in keys:
            touched[key] = None
            if merged.pop(key, None) is None:
                resource = kube_resource(key[0], key[1], many=True)
                missing.append(f'{resource} "{key[3]}" not found in namespace {key[2]}')
            else:
                deleted.append(f'{kube_resource(key[0], key[1])} "{key[3]}" deleted')
        self._preview = (list(merged.values()), merged, touched, self._docs)
        self._preview_version = self.version + len(deleted)  # a delete is a write too
        return self._preview[0], deleted, missing

    def commit(self, docs: list[dict[str, Any]]) -> None:
        """Persist then adopt: if the write fails, memory still holds the last good set."""
        text, texts = self._render(docs)
        write_atomically(self.path, text)
        listed, keyed, touched, base = self._preview
        if listed is docs and base is self._docs:  # only the keys it touched change
            for key in touched:
                before, after = self._docs.get(key), keyed.get(key)
                if before is not None:
                    self._keys.pop(id(before), None)
                if after is not None:
                    self._keys[id(after)] = (after, key)
            self._docs = keyed
        else:
            self.replace_all(docs)
        self._texts = texts
        self.version = max(self.version, self._preview_version)
        self._preview = ([], {}, {}, {})
