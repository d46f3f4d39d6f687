"""The answers of the UI's metric queries (the graph, the dashboards), computed once per round of
metrics and, for the queries somebody asked recently, computed in the background before the
round is shown: a request finds its answer ready instead of paying for it.

A `Query` says what is asked (graph or dashboard, its arguments, the window); `Answers.get`
answers it from a `Rates` (the window's per-series rates: two of the UI's own scrapes, or what
a Prometheus server returned) and remembers it; `Answers.prepare` (run in a worker thread, on a
round that requests cannot see yet) computes every query asked in the last `keep_warm` seconds.
Each answer is kept in the memo of the round it was computed from, so it lives as long as the
round is the newest one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilotfish.ui import dashboards
from pilotfish.ui.graph import build_graph
from pilotfish.ui.promql import Rates
from pilotfish.ui.series import Target

DASHBOARDS = ("mesh", "service", "workload")


@dataclass(frozen=True)
class Query:
    kind: str  # "graph" or a dashboard's name
    window: int
    args: tuple[str, ...] = ()  # dashboards: host, namespace, name
    targets: tuple[Target, ...] = ()  # the graph: every proxy is a node, with traffic or not

    def run(self, rates: Rates | None) -> dict[str, Any]:
        if self.kind == "graph":
            return build_graph(self.targets, rates)
        if rates is None:
            return {"empty": True}
        host, namespace, name = self.args
        if self.kind == "mesh":
            return dashboards.mesh(rates)
        if self.kind == "service":
            return dashboards.service(rates, host)
        return dashboards.workload(rates, namespace, name)


RatesFor = Callable[[int], Rates | None]
"""window -> its rates in one round (None: no rate can be computed yet)."""


class Answers:
    def __init__(self, keep_warm: float = 120.0, max_warm: int = 64) -> None:
        self.keep_warm = keep_warm
        self.max_warm = max_warm
        self._asked: dict[Query, float] = {}
        self._lock = threading.Lock()

    def get(self, query: Query, rates_for: RatesFor) -> dict[str, Any]:
        """The answer to `query` in the round `rates_for` shows (computed now if not ready)."""
        self._asked_now(query)
        return self._answer(query, rates_for)

    def text(self, query: Query, rates_for: RatesFor) -> str:
        """The same as JSON text, serialised once per round."""
        self._asked_now(query)
        return self._text(query, rates_for)

    def _asked_now(self, query: Query) -> None:
        with self._lock:
            self._asked[query] = time.monotonic()
            if len(self._asked) > self.max_warm:  # forget the least recently asked
                del self._asked[min(self._asked, key=self._asked.__getitem__)]

    def warm(self) -> list[Query]:
        """The queries asked in the last `keep_warm` seconds."""
        cutoff = time.monotonic() - self.keep_warm
        with self._lock:
            for query in [q for q, at in self._asked.items() if at < cutoff]:
                del self._asked[query]
            return list(self._asked)

    def prepare(self, rates_for: RatesFor, window: int | None = None) -> int:
        """Compute every warm query (of one window, if given) in a round before it is shown;
        how many were computed."""
        queries = [q for q in self.warm() if window is None or q.window == window]
        for query in queries:
            self._text(query, rates_for)
        return len(queries)

    def _text(self, query: Query, rates_for: RatesFor) -> str:
        rates = rates_for(query.window)
        if rates is None:
            return json.dumps(query.run(None))
        key = ("json", query, rates.key)
        found = rates.memo.get(key)
        if not isinstance(found, str):
            found = rates.memo[key] = json.dumps(self._answer(query, rates_for))
        return found

    @staticmethod
    def _answer(query: Query, rates_for: RatesFor) -> dict[str, Any]:
        rates = rates_for(query.window)
        if rates is None:
            return query.run(None)
        key = ("answer", query, rates.key)
        found = rates.memo.get(key)
        if not isinstance(found, dict):
            found = rates.memo[key] = query.run(rates)
        return found
