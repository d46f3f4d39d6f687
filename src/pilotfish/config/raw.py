"""Plain decoded YAML/JSON (`dict`s, `list`s, scalars) read without trusting its shape.

The webhook rules, the extension checks and the analyzers' Kubernetes objects read documents as
written, before (or beside) the typed models: `Json` names such a value, and `as_map`,
`as_list`, `as_strings` read one as the shape wanted, or as empty when it is not. Pure; imports
nothing of pilotfish.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Json: TypeAlias = Any
"""A decoded YAML/JSON value of unknown shape (what a document holds before validation)."""


def as_map(value: Json) -> dict[str, Json]:
    return value if isinstance(value, dict) else {}


def as_list(value: Json) -> list[Json]:
    return value if isinstance(value, list) else []


def as_strings(value: Json) -> list[str]:
    """A list's items as strings (not a list: none)."""
    return [str(v) for v in as_list(value)]
