"""The few PromQL functions Istio's dashboards use, over two scrapes of a `History`:
`rate(m[w])`, `sum(...) by (labels)` with label matchers, and `histogram_quantile`.

Semantics follow Prometheus: a counter that went down was reset (its new value is the increase);
`histogram_quantile` interpolates linearly inside the bucket that holds the rank and answers the
largest finite bound when the rank falls in `+Inf`. One difference, on purpose: a series that
appears inside the window on a proxy scraped at its start counts from 0 (Envoy creates the
series on the first request), so the first requests of a new edge are not lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pilotfish.ui.series import KEPT_LABELS, Key, Scrape

Matcher = Callable[[Key], bool]
_INDEX = {name: i for i, name in enumerate(KEPT_LABELS)}


def matcher(**equal: str) -> Matcher:
    """`{a="x", b="y"}`; a value starting with `!` means `!=`."""
    checks = [(_INDEX[k], v) for k, v in equal.items()]

    def match(key: Key) -> bool:
        for i, v in checks:
            if v.startswith("!"):
                if key[i] == v[1:]:
                    return False
            elif key[i] != v:
                return False
        return True

    return match


def rate(
    first: Scrape, last: Scrape, metric: str, match: Matcher | None = None
) -> dict[Key, float]:
    """Per-second increase of every series of `metric` between two scrapes, summed over
    targets (series with no increase are left out). Computed once per pair of scrapes."""
    memo_key = ("rate", id(first), first.at, metric)
    rates = last.memo.get(memo_key)
    if not isinstance(rates, dict):
        rates = last.memo[memo_key] = _rate(first, last, metric)
    if match is None:
        return dict(rates)
    return {k: v for k, v in rates.items() if match(k)}


class Rates(Protocol):
    """`rate(metric[window])` of every series, from one round of metrics: two of the UI's own
    scrapes (`ScrapeRates`) or a Prometheus server's answer (`pilotfish.ui.prometheus_reader`).
    `memo` keeps what is computed from it; `key` names the window within the round."""

    @property
    def key(self) -> Hashable: ...
    @property
    def memo(self) -> dict[object, object]: ...
    def rate(self, metric: str, match: Matcher | None = None) -> dict[Key, float]: ...


@dataclass(frozen=True)
class ScrapeRates:
    """The rates between the first and the last scrape of a window of the UI's own history."""

    first: Scrape
    last: Scrape

    @property
    def key(self) -> Hashable:
        return (id(self.first), self.first.at)

    @property
    def memo(self) -> dict[object, object]:
        return self.last.memo

    def rate(self, metric: str, match: Matcher | None = None) -> dict[Key, float]:
        return rate(self.first, self.last, metric, match)


def _rate(first: Scrape, last: Scrape, metric: str) -> dict[Key, float]:
    seconds = last.at - first.at
    if seconds <= 0:
        return {}
    out: dict[Key, float] = {}
    for target, samples in last.by_target.items():
        before_all = first.by_target.get(target)
        if before_all is None:
            continue  # not scraped at the window's start: no baseline
        before = before_all.get(metric, {})
        for key, value in samples.get(metric, {}).items():
            old = before.get(key, 0.0)
            increase = value - old if value >= old else value
            if increase > 0:
                out[key] = out.get(key, 0.0) + increase / seconds
    return out


def sum_by(series: Mapping[Key, float], labels: Sequence[str]) -> dict[tuple[str, ...], float]:
    index = [_INDEX[name] for name in labels]
    out: dict[tuple[str, ...], float] = {}
    for key, value in series.items():
        group = tuple(key[i] for i in index)
        out[group] = out.get(group, 0.0) + value
    return out


def histogram_quantile(q: float, buckets: Mapping[str, float]) -> float | None:
    """Prometheus' histogram_quantile over one group's `le` -> rate (cumulative buckets)."""
    if not buckets:
        return None
    bounds = sorted((math.inf if le == "+Inf" else float(le), v) for le, v in buckets.items())
    if bounds[-1][0] != math.inf:
        return None
    total = bounds[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in bounds:
        if count >= rank:
            if bound == math.inf:
                return prev_bound if len(bounds) > 1 else None
            if bound <= 0:
                return bound
            width = count - prev_count
            if width <= 0:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / width
        prev_bound, prev_count = bound, count
    return prev_bound


def quantiles_by(
    bucket_rates: Mapping[Key, float], labels: Sequence[str], qs: Sequence[float]
) -> dict[tuple[str, ...], list[float | None]]:
    """`histogram_quantile(q, sum(rate(..._bucket[w])) by (le, labels...))` for each q."""
    grouped: dict[tuple[str, ...], dict[str, float]] = {}
    for (*group, le), value in sum_by(bucket_rates, [*labels, "le"]).items():
        into = grouped.setdefault(tuple(group), {})
        into[le] = into.get(le, 0.0) + value
    return {g: [histogram_quantile(q, b) for q in qs] for g, b in grouped.items()}
