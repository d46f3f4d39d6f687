"""The checks of an object's envelope as `istioctl validate -f` reads a file: only Kubernetes'
top-level fields, and `metadata` (name, namespace, labels, annotations) with the API server's
name rule as a warning where istioctl itself does not enforce it; and `metadata.
creationTimestamp` as the API server writes it (RFC 3339 in UTC, to the second: `kube_time`,
read back by `kube_time_of`), and an object's identity in a store (`doc_key`). Pure; imports
only `pilotfish.config` leaf modules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pilotfish.config.formats import labels_problem
from pilotfish.config.schema import Problem

_NAME_MAX = 253
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*$")


CREATED = "creationTimestamp"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def kube_time(epoch: float) -> str:
    """A moment as the API server writes `creationTimestamp`: `2026-12-01T13:04:05Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime(_TIME_FORMAT)


def kube_time_of(text: Any) -> float | None:
    """The moment a `creationTimestamp` (or an event's `lastTimestamp`) names; None when it is
    missing or not in the API server's form."""
    try:
        return datetime.strptime(str(text), _TIME_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


DocKey = tuple[str, str, str, str]


def doc_key(doc: dict[str, Any]) -> DocKey:
    """What identifies a stored object, as the API server does: (API group, kind, namespace
    (`default` when none), name); one object across the versions of its kind."""
    api_version = str(doc.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    meta = doc.get("metadata") or {}
    return (
        group,
        str(doc.get("kind", "")),
        str(meta.get("namespace") or "default"),
        str(meta.get("name", "")),
    )


TOP_LEVEL_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


def top_level_problems(data: dict[str, Any]) -> list[Problem]:
    """istioctl validate's checkFields: an Istio object holds these top-level fields only."""
    return [
        Problem(str(key), f'unknown field "{key}"') for key in data if key not in TOP_LEVEL_FIELDS
    ]


def metadata_problems(metadata: dict[str, Any], name: str) -> list[Problem]:
    problems: list[Problem] = []
    if len(name) > _NAME_MAX or not _SAFE_NAME.match(name) or name in (".", ".."):
        problems.append(
            Problem(
                "metadata.name", f'invalid name "{name}": must be a lowercase DNS-1123 subdomain'
            )
        )
    elif not _is_subdomain(name):
        # istioctl validates files without the API server's name rule: a warning only.
        problems.append(
            Problem(
                "metadata.name",
                f'name "{name}" is not a lowercase DNS-1123 subdomain: a Kubernetes API server '
                "would refuse it",
                "warning",
            )
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _is_label(namespace)):
        problems.append(Problem("metadata.namespace", f"invalid namespace {namespace!r}"))
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(Problem(f"metadata.{key}", f"{key} must be a map of strings"))
        elif key == "labels":
            found = labels_problem(value, kube=True)
            if found is not None:
                problems.append(Problem(f"metadata.labels.{found[0]}", found[1], "warning"))
    return problems


def _is_label(text: str) -> bool:
    return (
        0 < len(text) <= 63
        and all(c.islower() or c.isdigit() or c == "-" for c in text if c.isascii())
        and text.isascii()
        and text[0].isalnum()
        and text[-1].isalnum()
    )


def _is_subdomain(text: str) -> bool:
    return bool(text) and all(_is_label(part) for part in text.split("."))
