"""A sidecar's narrowed outbound block made again after a change (`narrowed_since`), from what
its last one was made with (`Narrowing`): the same block when the sidecar's parts name what
they named, or the last one's names with a new block's messages when only what its clusters
hold changed (every rule's connection pool), once per pair of blocks; else narrowed anew
(`on_demand.narrowed`). What it compares is compared once per pair in a push context: the
sidecars of a namespace share their parts, and sidecars asking for the same clusters their
narrowed block. Pure: reads only its arguments (memoised per push context)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from google.protobuf.message import Message

from pilotfish.model.push_context import PushContext
from pilotfish.translate import on_demand
from pilotfish.translate.on_demand import Groups
from pilotfish.translate.resources import KeptPart, ProxyResources
from pilotfish.type_urls import CLUSTER, ENDPOINT


class Narrowing(NamedTuple):
    """What a sidecar's outbound block was narrowed with (`narrowed_since`) and to."""

    block: ProxyResources
    own: ProxyResources
    clusters: frozenset[str]
    groups: tuple[tuple[Groups, ...], ...]  # of each shared part
    held: tuple[Mapping[str, Message], ...]  # the clusters of each shared part
    found: ProxyResources


def narrowed_since(
    before: Narrowing | None,
    shared: tuple[ProxyResources, ...],
    own: ProxyResources,
    clusters: frozenset[str],
    push: PushContext,
) -> tuple[tuple[ProxyResources, ...], Narrowing | None]:
    """`narrowed`, and what it was made with; `before`'s narrowed block (a sidecar's last) when
    it was made of the same block, own part and clusters asked for, and route groups and
    clusters of the other parts that name the same (a policy change swaps only catch-alls,
    whose groups name no service), so narrowing gives the same block again. A new block of
    the same cluster and endpoint names (a rule change that changed only what clusters hold,
    e.g. every rule's connection pool) narrows to the same names: its messages of those."""
    if not shared:
        return shared, None
    groups, held = _parts_view(shared, push)
    if (
        before is not None
        and before.own is own
        and before.clusters == clusters
        and _name_the_same(before, groups, held, push)
    ):
        if before.block is shared[0]:
            return (before.found, *shared[1:]), before._replace(groups=groups, held=held)
        block = shared[0]
        if _same_names(before.block[ENDPOINT], block[ENDPOINT], push):
            found = _renarrowed(before.found, block, push)
            return (found, *shared[1:]), Narrowing(block, own, clusters, groups, held, found)
    parts = on_demand.narrowed(shared, own, clusters, push)
    return parts, Narrowing(shared[0], own, clusters, groups, held, parts[0])


def _parts_view(
    shared: tuple[ProxyResources, ...], push: PushContext
) -> tuple[tuple[tuple[Groups, ...], ...], tuple[Mapping[str, Message], ...]]:
    """The route groups and the clusters of each of `shared`, once per tuple of parts in a
    push context: the sidecars of a namespace share their parts, so they share these tuples,
    and `_name_the_same` compares each pair of them once."""
    key = ("pilotfish.translate.on_demand.parts_view", *map(id, shared))
    known: tuple[tuple[ProxyResources, ...], Any, Any] | None = push.memo.get(key)
    if known is None or not _same_objects(known[0], shared):
        groups = tuple(on_demand._route_groups(p, push) for p in shared)
        held = tuple(p[CLUSTER] for p in shared)
        known = push.memo[key] = (shared, groups, held)
    return known[1], known[2]


def _name_the_same(
    before: Narrowing,
    groups: tuple[tuple[Groups, ...], ...],
    held: tuple[Mapping[str, Message], ...],
    push: PushContext,
) -> bool:
    """Whether `before`'s route groups and clusters of each shared part name what `groups`
    and `held` name, once per pair of them in a push context."""
    key = ("pilotfish.translate.on_demand.name_the_same", *map(id, (before.groups, before.held)))
    key += (id(groups), id(held))
    compared = (before.groups, before.held, groups, held)
    known: tuple[tuple[object, ...], bool] | None = push.memo.get(key)
    if known is None or not _same_objects(known[0], compared):
        same = (
            _same_groups(before.groups, groups)
            and len(before.held) == len(held)
            and all(_same_names(a, b, push) for a, b in zip(before.held, held, strict=True))
        )
        known = push.memo[key] = (compared, same)
    return known[1]


def _same_objects(these: tuple[object, ...], those: tuple[object, ...]) -> bool:
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


def _renarrowed(found: ProxyResources, block: ProxyResources, push: PushContext) -> KeptPart:
    """`found` (a narrowed block) with `block`'s messages of its names (`block` has them
    all), once per pair in a push context: sidecars asking for the same clusters share
    their narrowed block."""
    key = ("pilotfish.translate.on_demand.renarrowed", id(found), id(block))
    known: tuple[ProxyResources, ProxyResources, KeptPart] | None = push.memo.get(key)
    if known is None or known[0] is not found or known[1] is not block:
        part = {t: {n: block[t][n] for n in found[t]} for t in on_demand._TYPES}
        known = push.memo[key] = (found, block, on_demand._kept(push, part))
    return known[2]


def _same_names(a: Mapping[str, Message], b: Mapping[str, Message], push: PushContext) -> bool:
    """Whether two mappings have the same names, compared once per pair in a push context
    (sidecars share blocks: thousands ask about the same two)."""
    if a is b:
        return True
    key = ("pilotfish.translate.on_demand.same_names", id(a), id(b))
    found: tuple[object, object, bool] | None = push.memo.get(key)
    if found is None or found[0] is not a or found[1] is not b:
        found = push.memo[key] = (a, b, a.keys() == b.keys())
    return found[2]


def _same_groups(
    before: tuple[tuple[Groups, ...], ...], now: tuple[tuple[Groups, ...], ...]
) -> bool:
    return len(before) == len(now) and all(
        len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b, strict=True))
        for a, b in zip(before, now, strict=True)
    )
