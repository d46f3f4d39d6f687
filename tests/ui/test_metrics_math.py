"""The UI's PromQL: rate between two scrapes (counter resets, new series), sum by,
histogram_quantile as Prometheus computes it; the exposition parser keeps Istio's labels."""

from __future__ import annotations

import itertools
import math

import pytest

from pilotfish.ui.promql import histogram_quantile, matcher, quantiles_by, rate, sum_by
from pilotfish.ui.series import KEPT_LABELS, REQUESTS, History, Scrape, parse_exposition

LINE = (
    'istio_requests_total{{reporter="source",source_workload="productpage-v1",'
    'source_workload_namespace="default",destination_workload="reviews-v2",'
    'destination_service="reviews.default.svc.cluster.local",response_code="{code}",'
    'response_flags="-",source_principal="unknown"}} {value}'
)


def scrape(at: float, **values: float) -> Scrape:
    text = "\n".join(LINE.format(code=code.lstrip("c"), value=v) for code, v in values.items())
    return Scrape(at, {"productpage-v1-0": parse_exposition(text)})


def test_parse_keeps_the_grouping_labels_and_drops_the_rest() -> None:
    samples = parse_exposition(
        "# TYPE x counter\n" + LINE.format(code="200", value=7) + "\nenvoy_x 3\n"
    )
    ((key, value),) = samples[REQUESTS].items()
    assert value == 7
    labels = dict(zip(KEPT_LABELS, key, strict=True))
    assert labels["destination_workload"] == "reviews-v2" and labels["response_code"] == "200"
    assert "source_principal" not in labels


def test_rate_is_the_increase_per_second() -> None:
    first, last = scrape(100, c200=10, c503=1), scrape(110, c200=30, c503=1)
    by_code = sum_by(rate(first, last, REQUESTS), ["response_code"])
    assert by_code == {("200",): pytest.approx(2.0)}  # no increase: left out


def test_a_counter_reset_counts_its_new_value_and_a_new_series_counts_from_zero() -> None:
    first, last = scrape(0, c200=50), scrape(10, c200=5, c500=3)
    by_code = sum_by(rate(first, last, REQUESTS), ["response_code"])
    assert by_code == {("200",): pytest.approx(0.5), ("500",): pytest.approx(0.3)}


def test_a_target_missing_at_the_window_start_has_no_baseline() -> None:
    first = Scrape(0, {})
    assert rate(first, scrape(10, c200=5), REQUESTS) == {}


def test_matchers_equal_and_not_equal() -> None:
    first, last = scrape(0), scrape(10, c200=10, c503=5)
    not_5xx = rate(first, last, REQUESTS, matcher(response_code="!503"))
    assert sum(not_5xx.values()) == pytest.approx(1.0)


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = {"10": 50.0, "100": 90.0, "1000": 100.0, "+Inf": 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(10.0)
    assert histogram_quantile(0.9, buckets) == pytest.approx(100.0)
    assert histogram_quantile(0.99, buckets) == pytest.approx(100 + 900 * 9 / 10)
    assert histogram_quantile(0.25, buckets) == pytest.approx(5.0)  # first bucket from 0
    assert histogram_quantile(0.99, {"10": 1.0, "+Inf": 100.0}) == 10.0  # rank in +Inf
    assert histogram_quantile(0.5, {"+Inf": 0.0}) is None
    assert histogram_quantile(0.5, {"10": 1.0}) is None  # no +Inf: not a histogram
    assert not math.isnan(histogram_quantile(1.0, buckets) or 0)


def test_quantiles_by_groups_over_le() -> None:
    first = Scrape(0, {"a": {"istio_request_duration_milliseconds_bucket": {}}})
    text = "\n".join(
        f'istio_request_duration_milliseconds_bucket{{reporter="source",le="{le}"}} {v}'
        for le, v in (("10", 5), ("100", 10), ("+Inf", 10))
    )
    last = Scrape(10, {"a": parse_exposition(text)})
    series = rate(first, last, "istio_request_duration_milliseconds_bucket")
    ((p50, p99),) = quantiles_by(series, [], [0.5, 0.99]).values()
    assert p50 == pytest.approx(10.0) and p99 == pytest.approx(10 + 90 * 4.9 / 5)


def test_history_window_and_thinning() -> None:
    history = History(keep_all=60, keep_sparse=600, sparse_every=30)
    for t in range(0, 700, 5):
        history.add(Scrape(float(t)))
    ages = [695 - s.at for s in history.scrapes]
    assert max(ages) <= 600 and min(ages) == 0
    old = [s.at for s in history.scrapes if 695 - s.at > 60]
    assert all(b - a >= 30 for a, b in itertools.pairwise(old))
    first, last = history.window(60) or (None, None)
    assert last is not None and first is not None and last.at - first.at == 60
    assert History().window(60) is None
