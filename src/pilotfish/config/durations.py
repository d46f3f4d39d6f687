"""Durations as Istio config writes them ("1.5s", "100ms", "1h30m"): parsing and Istio's checks.

Owns `parse_duration` (Go/CEL duration syntax, which is what the CRDs' `duration(self)` rules
accept, and a superset of protobuf JSON's "1.5s") and `duration_problem`, the Istio rule that a
configured duration is at least 1ms (Istio says "greater than 1ms", 1ms included) and has at most
millisecond precision. Pure; raises only `ValueError` from `parse_duration` for text that is not a
duration.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_MAX_LENGTH = 64


def parse_duration(text: str) -> float:
    """Seconds in a duration string such as "1.5s", "250ms" or "1h2m3s". Raises ValueError."""
    if not isinstance(text, str) or not text or len(text) > _MAX_LENGTH:
        raise ValueError(f"invalid duration {text!r}")
    body = text
    sign = 1.0
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    position = 0
    total = 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def duration_problem(text: str) -> str | None:
    """Istio's message for a configured duration that is not acceptable, or None when it is."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        return f"invalid duration {text!r}: expected a number and unit, such as 1.5s or 100ms"
    if seconds < 0.001 - 1e-12:
        return "duration must be greater than 1ms"
    millis = seconds * 1000
    if abs(millis - round(millis)) > 1e-6:
        return "only durations to ms precision are supported"
    return None
