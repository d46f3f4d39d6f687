"""Durations: parsing Go/proto duration strings and Istio's >= 1ms, ms-precision rule."""

from __future__ import annotations

import pytest

from pilotfish.config.durations import duration_problem, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1.5s", 1.5), ("100ms", 0.1), ("1h2m3s", 3723.0), ("0", 0.0), ("2us", 2e-6), ("-1s", -1.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1.5", "abc", "1s2", "1" * 100 + "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1s", None),
        ("0.5s", None),
        ("0s", "duration must be greater than 1ms"),
        ("-1s", "duration must be greater than 1ms"),
        ("1.0005s", "only durations to ms precision are supported"),
        ("5", "invalid duration '5': expected a number and unit, such as 1.5s or 100ms"),
    ],
)
def test_duration_problem(text: str, message: str | None) -> None:
    assert duration_problem(text) == message
