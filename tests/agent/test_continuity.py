"""Unit tests: Istio's series on 15020 survive Envoy dropping them (a replaced listener's scope)
and keep counting up when Envoy counts them again from zero."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pilotfish.agent.continuity import SeriesKeeper
from pilotfish.telemetry.scrape import OPEN_PREFIX

REQ = 'istio_requests_total{reporter="destination",response_code="200"}'
DUR = "istio_request_duration_milliseconds"
REQ_KEY = "istio_requests_total[('reporter', 'destination'), ('response_code', '200')]"
COUNT_KEY = f"{DUR}_count[('reporter', 'destination')]"


def _scrape(requests: int | None, bucket: int | None = None, gauge: int = 1) -> str:
    lines = ["# TYPE envoy_server_live gauge", f"envoy_server_live {gauge}"]
    if requests is not None:
        lines += ["# TYPE istio_requests_total counter", f"{REQ} {requests}"]
    if bucket is not None:
        lines += [
            f"# TYPE {DUR} histogram",
            f'{DUR}_bucket{{reporter="destination",le="5"}} {bucket}',
            f'{DUR}_bucket{{reporter="destination",le="+Inf"}} {bucket}',
            f'{DUR}_sum{{reporter="destination"}} {bucket * 2.5}',
            f'{DUR}_count{{reporter="destination"}} {bucket}',
        ]
    return "\n".join(lines) + "\n"


def _values(text: str) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_series_envoy_dropped_stays_at_its_last_value_then_counts_on() -> None:
    keeper = SeriesKeeper()
    assert _values(keeper.apply(_scrape(5, bucket=5)))[COUNT_KEY] == 5
    dropped = _values(keeper.apply(_scrape(None, gauge=0)))  # the listener drained: all gone
    assert dropped[REQ_KEY] == 5
    assert dropped[f"{DUR}_sum[('reporter', 'destination')]"] == 12.5
    assert dropped["envoy_server_live[]"] == 0  # a gauge says what it is now
    back = _values(keeper.apply(_scrape(1, bucket=2)))  # counted again from zero
    assert back[REQ_KEY] == 6
    assert back[COUNT_KEY] == 7
    assert _values(keeper.apply(_scrape(3, bucket=2)))[COUNT_KEY] == 7


def test_a_reset_without_a_gap_is_offset_too() -> None:
    keeper = SeriesKeeper()
    keeper.apply(_scrape(10))
    again = _values(keeper.apply(_scrape(2)))
    assert again[REQ_KEY] == 12


SENT = 'istio_tcp_sent_bytes_total{reporter="source"}'
SENT_KEY = "istio_tcp_sent_bytes_total[('reporter', 'source')]"


def _tcp(closed: int, open_part: int | None) -> str:
    """15090's TCP byte counter: closed connections' bytes plus the open ones' (listed first)."""
    lines = []
    if open_part is not None:
        lines += [
            f"# TYPE {OPEN_PREFIX}istio_tcp_sent_bytes_total gauge",
            f"{OPEN_PREFIX}{SENT} {open_part}",
        ]
    lines += ["# TYPE istio_tcp_sent_bytes_total counter", f"{SENT} {closed + (open_part or 0)}"]
    return "\n".join(lines) + "\n"


def test_open_connections_bytes_count_and_their_move_at_close_is_no_reset() -> None:
    keeper = SeriesKeeper()
    first = keeper.apply(_tcp(100, 40))
    assert _values(first)[SENT_KEY] == 140 and OPEN_PREFIX not in first  # helper consumed
    assert _values(keeper.apply(_tcp(100, 90)))[SENT_KEY] == 190
    # the page was read between the open part's zero and the closed count (a dip): held
    assert _values(keeper.apply(_tcp(100, None)))[SENT_KEY] == 190
    assert _values(keeper.apply(_tcp(200, None)))[SENT_KEY] == 200  # counted at close
    # a real reset (the closed part lower) is still offset, open bytes on top
    assert _values(keeper.apply(_tcp(10, 5)))[SENT_KEY] == 215
