"""Istio's standard metrics as the UI keeps them: each sidecar's `/stats/prometheus` (15090),
scraped every few seconds while somebody looks, reduced to the labels the dashboards group by.

A `Scrape` is one round over every target; `History` keeps the recent rounds (all of the last
two minutes, then one every 30 s up to an hour), which is what a `rate(...[window])` needs.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

REQUESTS = "istio_requests_total"
DURATION_BUCKET = "istio_request_duration_milliseconds_bucket"
TCP_SENT = "istio_tcp_sent_bytes_total"
TCP_RECEIVED = "istio_tcp_received_bytes_total"
KEPT_METRICS = (REQUESTS, DURATION_BUCKET, TCP_SENT, TCP_RECEIVED)

KEPT_LABELS = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_canonical_service",
    "source_app",
    "destination_workload",
    "destination_workload_namespace",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_version",
    "request_protocol",
    "response_code",
    "response_flags",
    "connection_security_policy",
    "le",
)
"""The labels Istio's dashboards and Kiali group by (the rest are dropped when scraped)."""

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Key = tuple[str, ...]  # values of KEPT_LABELS, "" when absent
Samples = dict[str, dict[Key, float]]  # metric name -> series -> value


BUCKET_DROPPED = ("response_code", "response_flags", "connection_security_policy")
"""Labels summed away from duration buckets: no latency panel groups by them."""
_BUCKET_KEEP = tuple(name not in BUCKET_DROPPED for name in KEPT_LABELS)


class Parser:
    """Parses expositions, remembering each label set it has seen: a sidecar shows the same
    series scrape after scrape, so most lines cost a dictionary lookup."""

    def __init__(self, max_cached: int = 500_000) -> None:
        self.max_cached = max_cached
        self._keys: dict[str, tuple[str, Key]] = {}

    def _key(self, name: str, inside: str) -> Key:
        cached = self._keys.get(inside)
        if cached is not None and cached[0] == name:
            return cached[1]
        labels = dict(_LABEL.findall(inside))
        key = tuple(labels.get(k, "") for k in KEPT_LABELS)
        if name == DURATION_BUCKET:
            key = tuple(v if keep else "" for v, keep in zip(key, _BUCKET_KEEP, strict=True))
        if len(self._keys) >= self.max_cached:
            self._keys.clear()
        self._keys[inside] = (name, key)
        return key

    def parse(self, text: str) -> Samples:
        """The kept metrics of a Prometheus text exposition, summed over dropped labels."""
        out: Samples = {name: {} for name in KEPT_METRICS}
        for line in text.splitlines():
            if not line.startswith("istio_"):
                continue
            brace = line.find("{")
            if brace < 0:
                continue
            series = out.get(line[:brace])
            if series is None:
                continue
            end = line.rfind("}")
            try:
                value = float(line[end + 1 :].split()[0])
            except (ValueError, IndexError):
                continue
            key = self._key(line[:brace], line[brace + 1 : end])
            series[key] = series.get(key, 0.0) + value
        return out


def parse_exposition(text: str) -> Samples:
    return Parser().parse(text)


LABEL_INDEX = {name: i for i, name in enumerate(KEPT_LABELS)}


def label(key: Key, name: str) -> str:
    return key[LABEL_INDEX[name]]


@dataclass(frozen=True)
class Target:
    """One proxy to scrape: a sidecar or a gateway."""

    instance: str
    workload: str
    namespace: str
    ip: str
    gateway: bool = False
    ingress: str = ""  # gateways: the address their servers bind
    labels: tuple[tuple[str, str], ...] = ()  # the pod's (what DestinationRule selectors see)

    @property
    def url(self) -> str:
        return f"http://{self.ip}:15090/stats/prometheus"


@dataclass
class Scrape:
    """One round: when, and what each target answered (a target that failed is absent).
    `memo` keeps what queries computed from it (a scrape does not change once kept)."""

    at: float
    by_target: dict[str, Samples] = field(default_factory=dict)
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class History:
    """The recent scrapes, oldest first."""

    keep_all: float = 120.0
    keep_sparse: float = 3600.0
    sparse_every: float = 30.0
    scrapes: deque[Scrape] = field(default_factory=deque)

    def add(self, scrape: Scrape) -> None:
        if self.scrapes:
            self.scrapes[-1].memo.clear()  # queries only ever end at the newest scrape
        self.scrapes.append(scrape)
        self._thin(scrape.at)

    def extended(self, scrape: Scrape) -> History:
        """A new history: this one's scrapes and `scrape` (this one is left as it is, so
        readers keep a consistent view while the new one is prepared)."""
        new = History(self.keep_all, self.keep_sparse, self.sparse_every, deque(self.scrapes))
        new.scrapes.append(scrape)
        new._thin(scrape.at)
        return new

    def _thin(self, now: float) -> None:
        kept: deque[Scrape] = deque()
        last_sparse = -1e18
        for s in self.scrapes:
            age = now - s.at
            if age > self.keep_sparse:
                continue
            if age > self.keep_all:
                if s.at - last_sparse < self.sparse_every:
                    continue
                last_sparse = s.at
            kept.append(s)
        self.scrapes = kept

    def window(self, seconds: float, now: float | None = None) -> tuple[Scrape, Scrape] | None:
        """(first, last) scrapes inside the window ending at the newest scrape, or None when
        fewer than two rounds fall inside it (no rate can be computed yet)."""
        if len(self.scrapes) < 2:
            return None
        last = self.scrapes[-1]
        start = (now if now is not None else last.at) - seconds
        for s in self.scrapes:
            if s.at >= start - 0.5 and s is not last:
                return s, last
        return None

    def targets_seen(self) -> set[str]:
        return {t for s in self.scrapes for t in s.by_target}


def now() -> float:
    return time.time()


def merge(samples: Iterable[Samples]) -> Samples:
    """Series of several targets together (their label sets differ by reporter and workload)."""
    out: Samples = {name: {} for name in KEPT_METRICS}
    for one in samples:
        for name, series in one.items():
            into = out.setdefault(name, {})
            for key, value in series.items():
                into[key] = into.get(key, 0.0) + value
    return out
