"""Which config of a kind applies to a host: the index of configs by the host patterns they name
(`HostIndex`), Istio's `exportTo` visibility (`exported_to`), and the most specific visible
match (`most_specific`: exact before longer wildcards, then namespace/name order). Pure.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pilotfish.config.hosts import exported_to as visible_in
from pilotfish.config.hosts import host_matches, specificity
from pilotfish.config.objects import AnyConfig, ConfigObject

SpecT = TypeVar("SpecT")


def exported_to(config: AnyConfig, namespace: str, default: tuple[str, ...] = ()) -> bool:
    """Istio's `exportTo`: empty or "*" = every namespace, "." = the config's own, "~" = none,
    otherwise the namespaces listed. A config that sets none has `default` (the mesh's
    `default…ExportTo` of its kind; () = every namespace)."""
    export_to = tuple(getattr(config.spec, "export_to", ()) or ()) or default
    return visible_in(export_to, config.meta.namespace, namespace)


class HostIndex(Generic[SpecT]):
    """Configs of one kind by the host patterns they name: exact hosts in a dict (lower-cased),
    wildcard patterns in a list; `order` is the config's position in namespace/name order;
    `default_export`: the exportTo of those that set none (the mesh's default for the kind)."""

    def __init__(self, default_export: tuple[str, ...] = ()) -> None:
        self.exact: dict[str, list[tuple[int, str, ConfigObject[SpecT]]]] = {}
        self.wildcards: list[tuple[int, str, ConfigObject[SpecT]]] = []
        self.default_export = default_export
        self.restricted = False
        """Whether some config is not exported to every namespace (only then does the answer
        for a host depend on the namespace asking)."""
        self._views: dict[str, tuple[int, ...]] = {}

    def view(self, namespace: str) -> tuple[int, ...]:
        """What `most_specific`'s answers for `namespace` depend on: the configs not exported
        to every namespace that are exported to `namespace` (ids, in order); () when every
        config is exported everywhere. Two namespaces with the same view see the same configs,
        so they get the same answer for every host. Memoised."""
        if not self.restricted:
            return ()
        found = self._views.get(namespace)
        if found is None:
            entries = [e for same in self.exact.values() for e in same] + self.wildcards
            found = self._views[namespace] = tuple(
                sorted(
                    {
                        id(config)
                        for _, _, config in entries
                        if self._restricted(config)
                        and exported_to(config, namespace, self.default_export)
                    }
                )
            )
        return found

    def _restricted(self, config: AnyConfig) -> bool:
        export_to = tuple(getattr(config.spec, "export_to", ()) or ()) or self.default_export
        return bool(export_to) and "*" not in export_to

    def add(self, pattern: str, order: int, config: ConfigObject[SpecT]) -> None:
        if self._restricted(config):
            self.restricted = True
        if pattern.startswith("*"):
            self.wildcards.append((order, pattern, config))
        else:
            self.exact.setdefault(pattern.lower(), []).append((order, pattern, config))


def most_specific(
    index: HostIndex[SpecT] | None, host: str, namespace: str
) -> ConfigObject[SpecT] | None:
    """Among configs exported to `namespace` whose pattern covers `host`: the most specific
    pattern (exact before longer wildcards), then the first in namespace/name order."""
    if index is None:
        return None
    best: tuple[tuple[int, int], int, ConfigObject[SpecT]] | None = None
    candidates = index.exact.get(host.lower(), []) + index.wildcards
    for order, pattern, config in candidates:
        if not host_matches(pattern, host):
            continue
        if not exported_to(config, namespace, index.default_export):
            continue
        candidate = (specificity(pattern, host), order, config)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return None if best is None else best[2]
