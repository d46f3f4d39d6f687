"""Istio's metrics read from the mesh's Prometheus server, when one runs (`pilotfish dashboard
prometheus`, Istio's Prometheus addon): the UI then asks it instead of scraping the proxies.

Istio's dashboards all start from `rate(<metric>{...}[<window>])`; the Prometheus server computes
that step, once per metric and window, summed by the labels the dashboards and Kiali group by
(`series.KEPT_LABELS`):

    sum by (reporter, source_workload, ..., response_code, ...) (rate(istio_requests_total[60s]))
    sum by (reporter, ..., le) (rate(istio_request_duration_milliseconds_bucket[60s]))

and the rest of each panel's query (label matchers, `sum by`, `histogram_quantile`) runs on
that answer with the same code as for the UI's own scrape (`promql`, `graph`, `dashboards`).

An answer is reused for `max_age` seconds; after that the old one is still returned at once
while a new one is fetched and prepared in the background (`Answers.prepare`), as the own
scrape does, so no request waits for Prometheus but the first of a window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from pilotfish.ui.promql import Matcher
from pilotfish.ui.series import (
    BUCKET_DROPPED,
    DURATION_BUCKET,
    KEPT_LABELS,
    REQUESTS,
    Key,
)

METRICS = (REQUESTS, DURATION_BUCKET)


class PrometheusUnavailable(Exception):
    """The Prometheus server did not answer (the message says how)."""


def grouping(metric: str) -> tuple[str, ...]:
    """The labels one metric's rates are summed by (the same the own scrape keeps)."""
    if metric == DURATION_BUCKET:
        return tuple(name for name in KEPT_LABELS if name not in BUCKET_DROPPED)
    return tuple(name for name in KEPT_LABELS if name != "le")


def rate_query(metric: str, window: int) -> str:
    """The PromQL sent for one metric and window."""
    return f"sum by ({', '.join(grouping(metric))}) (rate({metric}[{window}s]))"


@dataclass
class PrometheusRates:
    """One answer of the server: every series' rate for one window, as `promql.Rates`."""

    at: float
    series: dict[str, dict[Key, float]]
    memo: dict[object, object] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> Hashable:
        return ("prometheus", self.at)

    def rate(self, metric: str, match: Matcher | None = None) -> dict[Key, float]:
        found = self.series.get(metric, {})
        return {k: v for k, v in found.items() if v > 0 and (match is None or match(k))}


def to_series(result: list[dict[str, Any]]) -> dict[Key, float]:
    """A vector result of the API (`data.result`) as series keyed like the UI's own scrape."""
    out: dict[Key, float] = {}
    for row in result:
        labels = row.get("metric") or {}
        key = tuple(str(labels.get(name, "")) for name in KEPT_LABELS)
        try:
            value = float(row["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if value == value:  # NaN: no data in the window
            out[key] = out.get(key, 0.0) + value
    return out


Prepare = Callable[[PrometheusRates, int], Any]


class PrometheusReader:
    def __init__(self, max_age: float = 5.0, timeout: float = 5.0) -> None:
        self.max_age = max_age
        self.timeout = timeout
        self._cache: dict[tuple[str, int], PrometheusRates] = {}
        self._refreshing: dict[tuple[str, int], asyncio.Task[None]] = {}

    async def rates(self, url: str, window: int, prepare: Prepare) -> PrometheusRates:
        """The newest answer for this window; fetched now only if there is none yet."""
        key = (url, window)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = await self.fetch(url, window)
        elif time.time() - cached.at > self.max_age and key not in self._refreshing:
            task = asyncio.create_task(self._refresh(url, window, prepare))
            self._refreshing[key] = task
            task.add_done_callback(lambda _: self._refreshing.pop(key, None))
        return cached

    async def _refresh(self, url: str, window: int, prepare: Prepare) -> None:
        with contextlib.suppress(PrometheusUnavailable):
            new = await self.fetch(url, window)
            await asyncio.to_thread(prepare, new, window)
            self._cache[(url, window)] = new

    async def fetch(self, url: str, window: int) -> PrometheusRates:
        started = time.time()
        series: dict[str, dict[Key, float]] = {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(trust_env=False, timeout=timeout) as session:
                for metric in METRICS:
                    params = {"query": rate_query(metric, window), "time": f"{started:.3f}"}
                    async with session.get(f"{url}/api/v1/query", params=params) as resp:
                        body = await resp.json(content_type=None)
                    if resp.status != 200 or body.get("status") != "success":
                        raise PrometheusUnavailable(f"{url} answered {resp.status}: {body}")
                    series[metric] = to_series(body["data"]["result"])
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise PrometheusUnavailable(f"no answer from Prometheus at {url}: {exc}") from None
        return PrometheusRates(started, series)

    async def close(self) -> None:
        for task in list(self._refreshing.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
