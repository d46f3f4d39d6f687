"""A push context's configs by kind, and what it derives from the VirtualServices alone.

Its configs by kind, each kind sorted by namespace/name (`PushContext.kind`),
grouped again from the last push context's grouping: a kind that holds the very same objects
in the same order keeps its sorted tuple (the same object), so a change of one VirtualService
sorts the VirtualServices again and nothing else, and whatever a push context derives from a
kind alone (`PushContext._rules_by_namespace`) can be taken over when that tuple is the same.
Sorting a kind's objects alone gives what sorting every config and then grouping gave (a stable
sort keeps the order of equal keys in both)."""

from __future__ import annotations

from typing import NamedTuple

from pilotfish.config.objects import AnyConfig, VirtualService


class KindGroups(NamedTuple):
    """`listed`: each kind's objects in the configs' order; `by_kind`: those sorted."""

    listed: dict[str, list[AnyConfig]]
    by_kind: dict[str, tuple[AnyConfig, ...]]


def kind_groups(configs: tuple[AnyConfig, ...], last: KindGroups | None) -> KindGroups:
    """`configs` grouped; a kind listed exactly as in `last` takes `last`'s sorted tuple."""
    listed: dict[str, list[AnyConfig]] = {}
    for config in configs:
        listed.setdefault(config.meta.gvk.kind, []).append(config)
    by_kind: dict[str, tuple[AnyConfig, ...]] = {}
    for kind, found in listed.items():
        if last is not None and _same(last.listed.get(kind), found):
            by_kind[kind] = last.by_kind[kind]
        else:
            by_kind[kind] = tuple(sorted(found, key=lambda c: (c.meta.namespace, c.meta.name)))
    return KindGroups(listed, by_kind)


def _same(a: list[AnyConfig] | None, b: list[AnyConfig]) -> bool:
    return a is not None and len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


INHERITED = ("_kind_groups", "_rules")
"""What a push context takes from the one it replaces (`PushContext.__post_init__`)."""


def source_matches(virtual_services: tuple[VirtualService, ...]) -> tuple[bool, bool]:
    """Whether an HTTP match of one of `virtual_services` uses `sourceLabels`,
    `sourceNamespace` (each object's answer kept: never mutated, so a change scans only the
    objects it brings)."""
    global _SOURCE_MATCHES
    known, seen = _SOURCE_MATCHES, {}
    labels = namespace = False
    for vs in virtual_services:
        found = known.get(id(vs))
        if found is None or found[0] is not vs:
            found = (vs, *_source_matches_of(vs))
        seen[id(vs)] = found
        labels, namespace = labels or found[1], namespace or found[2]
    _SOURCE_MATCHES = seen
    return labels, namespace


_SOURCE_MATCHES: dict[int, tuple[VirtualService, bool, bool]] = {}  # id -> (it, its flags)


def _source_matches_of(vs: VirtualService) -> tuple[bool, bool]:
    labels = namespace = False
    for http in vs.spec.http or ():
        for match in http.match or ():
            labels = labels or bool(getattr(match, "source_labels", None))
            namespace = namespace or bool(getattr(match, "source_namespace", None))
    return labels, namespace
