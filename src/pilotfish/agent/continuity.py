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
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEPT_PREFIX = "istio_"
KEPT_TYPES = ("counter", "histogram")


@dataclass
class _Family:
    header: list[str]  # its `# HELP` / `# TYPE` lines
    # sample -> (Envoy's last value, what earlier lives of the series counted)
    series: dict[str, tuple[float, float]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # samples Envoy stopped showing


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class SeriesKeeper:
    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def apply(self, text: str) -> str:
        out: list[str] = []
        seen: dict[str, set[str]] = {}
        name, kept = "", False
        header: list[str] = []
        for line in text.splitlines():
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    if kept:
                        self._close(name, seen, out)
                    name = parts[2]
                    kept = name.startswith(KEPT_PREFIX) and parts[3] in KEPT_TYPES
                    header = [*header, line]
                    if kept:
                        family = self._families.setdefault(name, _Family(header))
                        family.header = header
                        seen.setdefault(name, set())
                    header = []
                elif len(parts) >= 2 and parts[1] == "HELP":
                    header = [line]
                out.append(line)
                continue
            if not kept or not line.strip():
                out.append(line)
                continue
            sample, _, raw_text = line.rpartition(" ")
            try:
                raw = float(raw_text)
            except ValueError:
                out.append(line)
                continue
            family = self._families[name]
            last_raw, offset = family.series.get(sample, (raw, 0.0))
            if raw < last_raw or sample in family.gone:  # counted again from zero
                offset += last_raw
                family.gone.discard(sample)
            family.series[sample] = (raw, offset)
            seen[name].add(sample)
            out.append(f"{sample} {_number(raw + offset)}")
        if kept:
            self._close(name, seen, out)
        for gone in [n for n in self._families if n not in seen]:  # a whole family vanished
            out.extend(self._families[gone].header)
            self._close(gone, seen, out)
        return "\n".join(out) + "\n"

    def _close(self, name: str, seen: dict[str, set[str]], out: list[str]) -> None:
        """After a family's samples: the ones Envoy no longer shows, at their last value."""
        shown = seen.setdefault(name, set())
        for sample, (raw, offset) in self._families[name].series.items():
            if sample not in shown:
                out.append(f"{sample} {_number(raw + offset)}")
                shown.add(sample)
                self._families[name].gone.add(sample)
