"""Istio's counters and histograms as Prometheus expects them: present and monotonic for the life
of the proxy, across the replacement of Envoy's listeners.

Istio's metrics here come from Envoy's `stats` access logger, whose stats scope belongs to its
listener: when a Telemetry or listener change replaces the listener, the old scope goes once it
has drained, and with it every series the new listener has not touched yet (Envoy frees a stat
that no scope holds). A series then vanishes, and comes back from zero at its next request:
Prometheus sees a counter reset. Istio's stats filter keeps its series for the life of the proxy.

`SeriesKeeper.apply(text)` rewrites one scrape of Envoy's Prometheus text: a series that Envoy
no longer shows is shown with its last value, and one that comes back lower than it was is
shown offset by what it had counted. Only the `istio_*` counter and histogram families are kept
(gauges mean what they say now). Scrape path only; pure apart from its memory of series.

TCP byte counters on 15090 include open connections' bytes so far (`telemetry.scrape`), which
15090 also lists in a `pilotfish_open_<counter>` gauge family placed before the counter. A
connection's bytes move from the open part to the closed part when it closes; Envoy's page may
be read between the two (`/stats/prometheus` prints counters before gauges), which looks like a
small decrease. So a reset is judged on the closed part only, a series is never shown lower
than it was, and the helper family is consumed here (Prometheus does not see it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pilotfish.telemetry.scrape import OPEN_PREFIX

KEPT_PREFIX = "istio_"
KEPT_TYPES = ("counter", "histogram")


@dataclass
class _Series:
    closed: float  # Envoy's last value, less open connections' bytes
    offset: float = 0.0  # what earlier lives of the series counted
    shown: float = 0.0  # the last value shown


@dataclass
class _Family:
    header: list[str]  # its `# HELP` / `# TYPE` lines
    series: dict[str, _Series] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # samples Envoy stopped showing


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _sample(line: str) -> tuple[str, float] | None:
    sample, _, raw_text = line.rpartition(" ")
    try:
        return sample, float(raw_text)
    except ValueError:
        return None


class SeriesKeeper:
    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def apply(self, text: str) -> str:
        out: list[str] = []
        seen: dict[str, set[str]] = {}
        opened: dict[str, float] = {}  # counter sample -> open connections' part of its value
        name, kept, helper = "", False, False
        header: list[str] = []
        for line in text.splitlines():
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    if kept:
                        self._close(name, seen, out)
                    name = parts[2]
                    helper = name.startswith(OPEN_PREFIX)
                    kept = name.startswith(KEPT_PREFIX) and parts[3] in KEPT_TYPES
                    header = [*header, line]
                    if kept:
                        family = self._families.setdefault(name, _Family(header))
                        family.header = header
                        seen.setdefault(name, set())
                    header = []
                    if helper:
                        continue
                elif len(parts) >= 2 and parts[1] == "HELP":
                    header = [line]
                out.append(line)
                continue
            if helper:
                parsed = _sample(line)
                if parsed is not None:
                    opened[parsed[0].removeprefix(OPEN_PREFIX)] = parsed[1]
                continue
            parsed = _sample(line) if kept and line.strip() else None
            if parsed is None:
                out.append(line)
                continue
            sample, raw = parsed
            family = self._families[name]
            open_part = opened.get(sample, 0.0)
            closed = raw - open_part
            series = family.series.get(sample)
            if series is None:
                series = family.series[sample] = _Series(closed)
            elif closed < series.closed or sample in family.gone:  # counted again from zero
                series.offset += series.closed
                family.gone.discard(sample)
            series.closed = closed
            series.shown = max(series.shown, closed + series.offset + open_part)
            seen[name].add(sample)
            out.append(f"{sample} {_number(series.shown)}")
        if kept:
            self._close(name, seen, out)
        for gone in [n for n in self._families if n not in seen]:  # a whole family vanished
            out.extend(self._families[gone].header)
            self._close(gone, seen, out)
        return "\n".join(out) + "\n"

    def _close(self, name: str, seen: dict[str, set[str]], out: list[str]) -> None:
        """After a family's samples: the ones Envoy no longer shows, at their last value."""
        shown = seen.setdefault(name, set())
        for sample, series in self._families[name].series.items():
            if sample not in shown:
                out.append(f"{sample} {_number(series.shown)}")
                shown.add(sample)
                self._families[name].gone.add(sample)
