"""The UI's answers are prepared in the background: a new round of scrapes is shown only once
the queries asked recently are computed on it, so a request after a scrape finds its answer
ready (the 200 ms goal of `bench/ui_latency.py`)."""

from __future__ import annotations

import asyncio
from unittest import mock

from pilotfish.ui.answers import Answers, Query
from pilotfish.ui.prometheus_reader import PrometheusRates, grouping, rate_query, to_series
from pilotfish.ui.promql import Rates, ScrapeRates
from pilotfish.ui.scraper import Scraper
from pilotfish.ui.series import DURATION_BUCKET, REQUESTS, History, Scrape, parse_exposition

LINE = (
    'istio_requests_total{{reporter="source",source_workload="productpage-v1",'
    'source_workload_namespace="default",destination_workload="reviews-v2",'
    'destination_workload_namespace="default",'
    'destination_service="reviews.default.svc.cluster.local",response_code="200"}} {value}'
)


def scrape(at: float, value: float) -> Scrape:
    return Scrape(at, {"productpage-v1-0": parse_exposition(LINE.format(value=value))})


def rates_for(history: History):  # type: ignore[no-untyped-def]
    def rates(window: int) -> Rates | None:
        span = history.window(window)
        return None if span is None else ScrapeRates(*span)

    return rates


def test_an_answer_is_computed_once_per_round_and_prepared_for_the_next() -> None:
    history = History()
    history.add(scrape(100, 10))
    history.add(scrape(110, 30))
    answers = Answers()
    mesh = Query("mesh", 60, ("", "default", ""))
    with mock.patch.object(Query, "run", autospec=True, side_effect=Query.run) as run:
        first = answers.get(mesh, rates_for(history))
        assert answers.get(mesh, rates_for(history)) is first and run.call_count == 1
        assert first["summary"]["rps"] == 2.0
        newer = history.extended(scrape(120, 70))
        assert answers.prepare(rates_for(newer)) == 1 and run.call_count == 2
        again = answers.get(mesh, rates_for(newer))  # ready: not computed when asked
        assert run.call_count == 2 and again["summary"]["rps"] == 3.0
    assert history.scrapes[-1].at == 110  # the shown history did not change meanwhile


def test_queries_not_asked_recently_are_not_prepared() -> None:
    answers = Answers(keep_warm=60)
    history = History()
    history.add(scrape(100, 10))
    history.add(scrape(110, 30))
    mesh = Query("mesh", 60, ("", "default", ""))
    with mock.patch("pilotfish.ui.answers.time.monotonic", return_value=1000.0):
        answers.text(mesh, rates_for(history))
    with mock.patch("pilotfish.ui.answers.time.monotonic", return_value=1030.0):
        assert answers.prepare(rates_for(history.extended(scrape(120, 50)))) == 1
    with mock.patch("pilotfish.ui.answers.time.monotonic", return_value=1061.0):
        assert answers.warm() == []  # preparing it did not count as asking


def test_the_scraper_shows_a_round_only_once_prepared() -> None:
    scraper = Scraper(list, idle_after=0)
    seen: list[tuple[float | None, float]] = []

    def prepare(new: History) -> None:
        shown = scraper.history.scrapes[-1].at if scraper.history.scrapes else None
        seen.append((shown, new.scrapes[-1].at))

    scraper.prepare = prepare

    async def scenario() -> None:
        await scraper.add(scrape(100, 10))
        await scraper.add(scrape(110, 30))

    asyncio.run(scenario())
    assert seen == [(None, 100), (100, 110)]
    assert [s.at for s in scraper.history.scrapes] == [100, 110]


def test_prometheus_answers_become_the_same_rates() -> None:
    """What the Prometheus server answers to the rate query is keyed like the own scrape, so
    the same dashboards code runs on it."""
    assert rate_query(REQUESTS, 60).startswith("sum by (reporter, source_workload, ")
    assert "le" not in grouping(REQUESTS) and "response_code" in grouping(REQUESTS)
    assert "le" in grouping(DURATION_BUCKET) and "response_code" not in grouping(DURATION_BUCKET)
    assert rate_query(DURATION_BUCKET, 300).endswith(
        "(rate(istio_request_duration_milliseconds_bucket[300s]))"
    )
    labels = {"reporter": "source", "source_workload": "productpage-v1",
              "source_workload_namespace": "default", "destination_workload": "reviews-v2",
              "destination_workload_namespace": "default",
              "destination_service": "reviews.default.svc.cluster.local"}  # fmt: skip
    result = [
        {"metric": labels | {"response_code": "200"}, "value": [1.0, "2"]},
        {"metric": labels | {"response_code": "503"}, "value": [1.0, "0.5"]},
        {"metric": labels | {"response_code": "404"}, "value": [1.0, "NaN"]},
    ]
    rates = PrometheusRates(1.0, {REQUESTS: to_series(result), DURATION_BUCKET: {}})
    mesh = Answers().get(Query("mesh", 60, ("", "default", "")), lambda _: rates)
    assert mesh["summary"]["rps"] == 2.5 and mesh["summary"]["success_rate"] == 0.8
    (row,) = mesh["workloads"]
    assert row["destination_workload"] == "reviews-v2" and row["rate_5xx"] == 0.5
