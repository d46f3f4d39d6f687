"""Stored documents picked by kind or apiVersion, and lists of them compared, in C: every
change passes the thousands of stored documents through these (the manifest's, the Gateway
API's), nearly all of them Istio's, so each is looked at by `map`/`compress` rather than by a
Python call per document. They pick exactly what `is_manifest_kind` and `is_gateway_api_doc`
pick, one by one when a document's apiVersion or kind is no hashable value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from operator import is_, methodcaller
from typing import Any

from pilotfish.config.kinds import (
    MANIFEST_KINDS,
    is_gateway_api_doc,
    is_gateway_api_version,
    is_manifest_kind,
)


def manifest_docs(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents of manifest kinds (`is_manifest_kind`), in order, picked in C (every
    change passes thousands of stored documents here); one by one if a document's apiVersion
    or kind is no hashable value."""
    docs = list(docs)
    try:
        pairs = zip(map(_API_VERSION, docs), map(KIND, docs), strict=True)
        return list(compress(docs, map(MANIFEST_KINDS.__contains__, pairs)))
    except TypeError:
        return [d for d in docs if is_manifest_kind(str(d.get("apiVersion")), str(d.get("kind")))]


def gateway_api_docs(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The (stored) Gateway API documents (`is_gateway_api_doc`), in order: their distinct
    apiVersions are looked at, then the documents picked by those in C."""
    docs = list(docs)
    try:
        versions = {v for v in set(map(_API_VERSION_OR_EMPTY, docs)) if _gateway_api(v)}
    except TypeError:
        return [d for d in docs if is_gateway_api_doc(d)]
    return list(compress(docs, map(versions.__contains__, map(_API_VERSION_OR_EMPTY, docs))))


def _gateway_api(api_version: object) -> bool:
    return is_gateway_api_version(str(api_version))


_API_VERSION = methodcaller("get", "apiVersion")
_API_VERSION_OR_EMPTY = methodcaller("get", "apiVersion", "")
KIND = methodcaller("get", "kind")  # a document's kind (None: none)


def ids(objects: Iterable[object]) -> tuple[int, ...]:
    """The objects' ids (a memo's key for exactly those objects, `same_objects` checking it)."""
    return tuple(map(id, objects))


def same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    """Whether `a` and `b` hold the very same objects, in order."""
    return len(a) == len(b) and all(map(is_, a, b))
