"""Which DestinationRule applies to a host for a proxy, as istiod decides it (`RuleIndex`).

Istio's `setDestinationRules` / `mergeDestinationRule` (with `ENABLE_ENHANCED_DESTINATIONRULE_
MERGE`, its default), `destinationRule` and `SidecarScope.DestinationRule`:
- Rules are taken in Istio's order: those with a `workloadSelector` first, then by
  `creationTimestamp`, name and namespace (`_order`).
- Each namespace keeps the rules visible to its own proxies (`local`: exportTo empty, `*`, `.`
  or naming it) and those it exports to others (`exported`: all but the private ones; a private
  rule of the root namespace goes to `root_local`). A rule with a `workloadSelector` is always
  private: its exportTo counts as `.` whatever it says (validation refuses more).
- In each of those, rules for the same host are consolidated (`_merge`): a rule merges into an
  earlier entry whose exportTo is the same (or, merging and kept apart as well, a subset of
  its own), unless both have selectors that differ; without selectors on both, or with equal
  ones, it is then no entry of its own. Merging appends the subsets the entry lacks and takes
  the rule's top-level traffic policy if the entry has none; the entry keeps the first rule's
  name and everything else. So a rule with a selector, ordered first, takes the subsets (and the
  policy, if it sets none) of a catch-all rule exported to `.` (and more), not of one with no
  exportTo (Istio's `TestSetDestinationRuleWithWorkloadSelector`, `...Merging`).
- A proxy's candidates for a host (`candidates`): the most specific host match (exact, else the
  longest wildcard) among its namespace's local entries (the root namespace's proxies: its
  private ones); else the entries the service's namespace exports to the proxy's namespace;
  else the root namespace's. Only the first namespace with a match counts.
- Of the candidates (`pick`), the first entry of the proxy's own namespace with a selector its
  labels satisfy; else the last one without a selector; else none. So a proxy that matches no
  selector, in a namespace with only a selected rule for the host, gets no rule at all (not the
  service namespace's), as in Istio. Gateways select the same way.
A proxy's `selection` (the selectors of its namespace's rules its labels satisfy) is all `pick`
reads of it: proxies with the same one resolve every host alike. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pilotfish.config.hosts import host_matches, resolve_host, specificity
from pilotfish.config.objects import DestinationRule

Selector = tuple[tuple[str, str], ...]
"""A `workloadSelector.matchLabels`, sorted (empty: it selects every workload)."""
Selection = tuple[Selector, ...]
"""The selectors of a namespace's rules that a proxy's labels satisfy, sorted."""
Labels = Mapping[str, str] | Iterable[tuple[str, str]]
"""A workload's labels, as a mapping or as pairs (a `Proxy`'s)."""
PUBLIC, PRIVATE = "*", "."


def selector_of(rule: DestinationRule) -> Selector | None:
    selector = rule.spec.workload_selector
    if selector is None:
        return None
    return tuple(sorted(selector.match_labels.items()))


@dataclass(frozen=True, eq=False)
class Entry:
    """One consolidated rule: `rule` is the first rule with the others' subsets (and top-level
    policy) merged in; `sources` are the rules it was made of, in order (Istio's `from`)."""

    rule: DestinationRule
    export_to: frozenset[str]
    sources: tuple[DestinationRule, ...]
    selector: Selector | None


class _Merging:
    __slots__ = ("export_to", "policy", "selector", "sources", "subsets")

    def __init__(self, rule: DestinationRule, export_to: frozenset[str]) -> None:
        self.sources = [rule]
        self.export_to = export_to
        self.selector = selector_of(rule)
        self.subsets = list(rule.spec.subsets)
        self.policy = rule.spec.traffic_policy

    def absorb(self, rule: DestinationRule) -> None:
        self.sources.append(rule)
        names = {s.name for s in self.subsets}
        self.subsets.extend(s for s in rule.spec.subsets if s.name not in names)
        if self.policy is None:
            self.policy = rule.spec.traffic_policy


class Group:
    """Consolidated entries of one namespace by host (Istio's `consolidatedDestRules`)."""

    def __init__(self) -> None:
        self.exact: dict[str, list[Entry]] = {}  # lower-cased host
        self.wildcards: dict[str, list[Entry]] = {}

    def match(self, host: str) -> list[Entry] | None:
        """Istio's `MostSpecificHostMatch`: the exact host, else the most specific wildcard."""
        found = self.exact.get(host.lower())
        if found is not None:
            return found
        best: tuple[tuple[int, int], str] | None = None
        for pattern in self.wildcards:
            if host_matches(pattern, host):
                rank = (specificity(pattern, host), pattern)
                if best is None or rank < best:
                    best = rank
        return None if best is None else self.wildcards[best[1]]


def _export_set(rule: DestinationRule) -> frozenset[str]:
    if rule.spec.workload_selector is not None:
        return frozenset({PRIVATE})
    return frozenset(rule.spec.export_to)


def _created(rule: DestinationRule) -> str:
    return str((rule.raw.get("metadata") or {}).get("creationTimestamp") or "")


def _order(rule: DestinationRule) -> tuple[bool, str, str, str]:
    """Istio's `sortConfigBySelectorAndCreationTime`."""
    selector = rule.spec.workload_selector is None
    return (selector, _created(rule), rule.meta.name, rule.meta.namespace)


def _merge(building: dict[str, list[_Merging]], host: str, rule: DestinationRule) -> None:
    """Istio's `mergeDestinationRule` (enhanced merge) into one namespace's entries."""
    export_to = _export_set(rule)
    entries = building.get(host)
    if entries is None:
        building[host] = [_Merging(rule, export_to)]
        return
    selector = selector_of(rule)
    separately = True
    for entry in entries:
        if export_to == entry.export_to:
            separately = False
        elif entry.export_to and export_to >= entry.export_to:
            separately = True
        else:
            separately = True
            continue
        both_with = selector is not None and entry.selector is not None
        if both_with and selector != entry.selector:
            separately = True
            continue
        if (selector is None and entry.selector is None) or both_with:
            separately = False
        entry.absorb(rule)
    if separately:
        entries.append(_Merging(rule, export_to))


class RuleIndex:
    """The DestinationRules of a push context, consolidated as istiod does (module docstring)."""

    def __init__(
        self,
        rules: Iterable[DestinationRule],
        default_export: tuple[str, ...],
        root: str,
        last: RuleIndex | None = None,
    ) -> None:
        self.root = root
        self.made: dict[tuple[int, ...], tuple[tuple[DestinationRule, ...], DestinationRule]] = {}
        """Merged rules by the ids of their sources, with them (a later index built from the
        same objects keeps the same merged objects, which translation keys units on)."""
        self._last_made = last.made if last is not None else {}
        local: dict[str, dict[str, list[_Merging]]] = {}
        exported: dict[str, dict[str, list[_Merging]]] = {}
        root_local: dict[str, list[_Merging]] = {}
        private_default = PRIVATE in default_export
        self.selectors: dict[str, set[Selector]] = {}
        for rule in sorted(rules, key=_order):
            if not rule.spec.host:
                continue
            namespace = rule.meta.namespace
            host = resolve_host(rule.spec.host, namespace)
            export_to = _export_set(rule)
            if not export_to or export_to & {PUBLIC, PRIVATE, namespace}:
                _merge(local.setdefault(namespace, {}), host, rule)
                selector = selector_of(rule)
                if selector is not None:
                    self.selectors.setdefault(namespace, set()).add(selector)
            private = (not export_to and private_default) or (
                len(export_to) == 1 and bool(export_to & {PRIVATE, namespace})
            )
            if not private:
                _merge(exported.setdefault(namespace, {}), host, rule)
            elif namespace == root:
                _merge(root_local, host, rule)
        self.local = {n: self._group(g) for n, g in local.items()}
        self.exported = {n: self._group(g) for n, g in exported.items()}
        self.root_local = self._group(root_local)
        self._last_made = {}

    def _group(self, building: Mapping[str, list[_Merging]]) -> Group:
        group = Group()
        for host, entries in building.items():
            found = [self._entry(e) for e in entries]
            if host.startswith("*"):
                group.wildcards[host] = found
            else:
                group.exact[host.lower()] = found
        return group

    def _entry(self, merging: _Merging) -> Entry:
        sources = tuple(merging.sources)
        rule = sources[0]
        if len(sources) > 1:
            ids = tuple(id(s) for s in sources)
            last = self.made.get(ids) or self._last_made.get(ids)
            if last is not None and all(a is b for a, b in zip(last[0], sources, strict=True)):
                rule = last[1]
            else:
                spec = rule.spec.model_copy(
                    update={"subsets": tuple(merging.subsets), "traffic_policy": merging.policy}
                )
                rule = dataclasses.replace(rule, spec=spec)
            self.made[ids] = (sources, rule)
        return Entry(rule, merging.export_to, sources, merging.selector)

    def selection(self, namespace: str, labels: Labels) -> Selection:
        """The selectors of `namespace`'s own rules that `labels` satisfy (sorted): proxies of
        the namespace with the same one resolve every host alike."""
        found = self.selectors.get(namespace)
        if not found:
            return ()
        labels = labels if isinstance(labels, Mapping) else dict(labels)
        return tuple(sorted(s for s in found if all(labels.get(k) == v for k, v in s)))

    def candidates(self, host: str, proxy_namespace: str, service_namespace: str) -> list[Entry]:
        """Istio's `PushContext.destinationRule`: the entries for `host` a proxy of
        `proxy_namespace` may pick from (the first namespace with a match)."""
        if proxy_namespace != self.root:
            group = self.local.get(proxy_namespace)
            found = group.match(host) if group is not None else None
        else:
            found = self.root_local.match(host)
        if found is not None:
            return found
        for namespace in (service_namespace, self.root):
            group = self.exported.get(namespace) if namespace else None
            listed = group.match(host) if group is not None else None
            if listed:
                visible = [
                    e for e in listed if not e.export_to or e.export_to & {PUBLIC, proxy_namespace}
                ]
                if visible:
                    return visible
        return []

    def has_host(self, namespace: str, host: str) -> bool:
        """Whether `namespace`'s proxies find `host` among their own namespace's entries."""
        group = self.root_local if namespace == self.root else self.local.get(namespace)
        return group is not None and group.match(host) is not None

    def own_hosts(self, namespace: str) -> tuple[frozenset[str], bool]:
        group = self.root_local if namespace == self.root else self.local.get(namespace)
        if group is None:
            return frozenset(), False
        return frozenset(group.exact), bool(group.wildcards)


def pick(entries: Iterable[Entry], proxy_namespace: str, selection: Selection) -> Entry | None:
    """Istio's `SidecarScope.DestinationRule` (outbound): the first entry of the proxy's own
    namespace whose selector is in its `selection`, else the last one without a selector."""
    catch_all = None
    for entry in entries:
        if entry.selector is None:
            catch_all = entry
        elif entry.rule.meta.namespace == proxy_namespace and entry.selector in selection:
            return entry
    return catch_all


__all__ = ["Entry", "Group", "Labels", "RuleIndex", "Selection", "Selector", "pick", "selector_of"]
