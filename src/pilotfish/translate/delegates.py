"""VirtualService delegation (one level): a root `http` route with `delegate` is replaced by the
delegate VirtualService's routes, each match merged with the root route's matches.

As Istio: a delegate is a VirtualService without hosts, named by `delegate.name` in
`delegate.namespace` (default: the root's namespace). A merged match keeps the delegate's fields
and takes the root's where the delegate leaves them empty; a pair whose fields contradict (the
delegate's uri outside the root's prefix, different header values, ...) is dropped, and a
delegate route left without matches is dropped. Delegates of delegates are not followed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from pilotfish.config.objects import VirtualService

if TYPE_CHECKING:
    from pilotfish.config.models.networking import HTTPMatchRequest, HTTPRoute, StringMatch

Report = Callable[[str, VirtualService, str], None]
"""(message, the VirtualService it is about, field path)."""
_SINGLE = ("scheme", "method", "authority", "source_namespace")
_MAPS = ("headers", "query_params", "without_headers", "source_labels")


def find_delegate(
    virtual_services: Sequence[VirtualService], name: str, namespace: str
) -> VirtualService | None:
    for vs in virtual_services:
        if vs.meta.name == name and vs.meta.namespace == namespace and not vs.spec.hosts:
            return vs
    return None


def http_routes(
    vs: VirtualService, virtual_services: Sequence[VirtualService], report: Report
) -> Iterator[tuple[VirtualService, HTTPRoute, str]]:
    """(owning VirtualService, HTTPRoute, field path) in order, delegates expanded."""
    for index, http in enumerate(vs.spec.http or ()):
        path = f"spec.http[{index}]"
        if http.delegate is None:
            yield vs, http, path
            continue
        namespace = http.delegate.namespace or vs.meta.namespace
        child = find_delegate(virtual_services, http.delegate.name or "", namespace)
        if child is None:
            report(f"delegate {namespace}/{http.delegate.name} not found: route skipped", vs, path)
            continue
        for child_index, child_http in enumerate(child.spec.http or ()):
            child_path = f"spec.http[{child_index}]"
            if child_http.delegate is not None:
                report("a delegate may not delegate again: route skipped", child, child_path)
                continue
            merged = merged_route(http, child_http)
            if merged is not None:
                yield child, merged, child_path


def merged_route(root: HTTPRoute, child: HTTPRoute) -> HTTPRoute | None:
    """The child's HTTPRoute with matches merged with the root's; None if none survive."""
    root_matches = list(root.match or ())
    if not root_matches:
        return child
    child_matches: list[HTTPMatchRequest | None] = [*child.match] or [None]
    merged = [
        m
        for r in root_matches
        for c in child_matches
        if (m := r if c is None else merge_match(r, c)) is not None
    ]
    return child.model_copy(update={"match": tuple(merged)}) if merged else None


def merge_match(root: HTTPMatchRequest, child: HTTPMatchRequest) -> HTTPMatchRequest | None:
    """One delegate match block narrowed by one root match block; None if they contradict."""
    update: dict[str, object] = {}  # field name -> value, for `model_copy`
    if root.uri is not None:
        if child.uri is None:
            update["uri"] = root.uri
        elif not _uri_within(child.uri, root.uri):
            return None
    for attribute in _SINGLE:
        mine, theirs = getattr(child, attribute), getattr(root, attribute)
        if theirs is not None and mine is None:
            update[attribute] = theirs
        elif theirs is not None and mine != theirs:
            return None
    for attribute in _MAPS:
        mine, theirs = dict(getattr(child, attribute) or {}), dict(getattr(root, attribute) or {})
        if any(key in mine and mine[key] != value for key, value in theirs.items()):
            return None
        update[attribute] = {**theirs, **mine}
    if root.port:
        if child.port and child.port != root.port:
            return None
        update["port"] = root.port
    if root.gateways and not child.gateways:
        update["gateways"] = root.gateways
    if child.ignore_uri_case is None and root.ignore_uri_case is not None:
        update["ignore_uri_case"] = root.ignore_uri_case
    if root.name:
        update["name"] = f"{root.name}-{child.name}" if child.name else root.name
    return child.model_copy(update=update)


def _uri_within(child: StringMatch, root: StringMatch) -> bool:
    """Whether every path the child's uri match takes is also taken by the root's."""
    if root.prefix is not None:
        inner: str | None = child.prefix if child.prefix is not None else child.exact
        prefix: str = root.prefix
        return inner is not None and inner.startswith(prefix)
    equal: bool = child.exact == root.exact if root.exact is not None else child == root
    return equal
