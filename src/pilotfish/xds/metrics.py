"""Prometheus metrics of the control plane, with istiod's names, types, labels and buckets.

Owns: `XdsMetrics`, registered in a `CollectorRegistry` passed in (never the global one), so
several servers in one process do not clash. Istio's sums are exported as counters WITHOUT the
`_total` suffix, as istiod exports them (`pilot_xds_pushes{type="cds"} 12`).

| metric | kind | labels | meaning (Istio's) |
|---|---|---|---|
| `pilot_xds` | gauge | version | proxies connected over xDS |
| `pilot_xds_pushes` | counter | type (cds, eds, lds, rds, sds) | responses sent |
| `pilot_xds_push_time` | histogram | type | seconds from queueing a response to written |
| `pilot_proxy_queue_time` | histogram | — | seconds a proxy waits in the push queue |
| `pilot_push_queue_depth` | gauge | — | proxies in the push queue (pilotfish's: istiod has none) |
| `pilot_proxy_convergence_time` | histogram | — | seconds from the config change to all sent |
| `pilot_push_triggers` | counter | type (config, endpoint) | pushes, by reason |
| `pilot_total_xds_rejects` | counter | type | responses NACKed by proxies |
| `pilot_xds_config_size_bytes` | histogram | type | size of the responses pushed |
| `pilot_services` | gauge | — | services known to the control plane |
| `pilot_virt_services` | gauge | — | VirtualServices known to the control plane |
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

_TIME_BUCKETS = (0.01, 0.1, 1, 3, 5, 10, 20, 30)  # pilot_xds_push_time
_PROXY_BUCKETS = (0.1, 0.5, 1, 3, 5, 10, 20, 30)  # convergence, queue time
_SIZE_BUCKETS = (1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of `registry`, with sums named as istiod names them: prometheus_client
    writes `_total` into the HELP/TYPE lines of every counter, istiod does not. The `_created`
    series prometheus_client adds beside every histogram and counter (the time each series
    began) are left out: istiod exports none, so its page has no such names."""
    text = b"\n".join(line for line in generate_latest(registry).split(b"\n") if not _created(line))
    for name in SUM_NAMES:
        raw = name.encode()
        text = text.replace(b"# HELP " + raw + b"_total ", b"# HELP " + raw + b" ")
        text = text.replace(b"# TYPE " + raw + b"_total ", b"# TYPE " + raw + b" ")
    return text


def _created(line: bytes) -> bool:
    """Whether `line` is a `_created` sample or its HELP/TYPE line."""
    if line.startswith(b"# "):
        parts = line.split(b" ", 3)
        return len(parts) > 2 and parts[2].endswith(b"_created")
    return line.split(b"{", 1)[0].split(b" ", 1)[0].endswith(b"_created")


SUM_NAMES = ("pilot_xds_pushes", "pilot_total_xds_rejects", "pilot_push_triggers")


class Sum:
    """A counter exported as istiod does, without `_total`: `.labels(type).inc()`."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.values: dict[str, float] = {}
        registry.register(self)

    def labels(self, kind: str) -> _Child:
        return _Child(self, kind)

    def value(self, kind: str) -> float:
        return self.values.get(kind, 0.0)

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, "counter")
        for kind, value in sorted(self.values.items()):
            metric.add_sample(self.name, {"type": kind}, value)
        yield metric

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.documentation, "counter")


class _Child:
    def __init__(self, parent: Sum, kind: str) -> None:
        self.parent, self.kind = parent, kind

    def inc(self, amount: float = 1.0) -> None:
        values = self.parent.values
        values[self.kind] = values.get(self.kind, 0.0) + amount


class TypeMetrics(NamedTuple):
    """What one response of a type counts in (`XdsMetrics.of_type`): its type's children of
    `pilot_xds_pushes`, `pilot_xds_config_size_bytes` and `pilot_xds_push_time`."""

    kind: str
    pushes: _Child
    config_size: Any  # prometheus_client's labelled Histogram child
    push_time: Any


class XdsMetrics:
    """The control plane's metrics, all in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.pushes = Sum(
            "pilot_xds_pushes",
            "Pilot build and send errors for lds, rds, cds and eds.",
            registry,
        )
        self.rejects = Sum(
            "pilot_total_xds_rejects",
            "Total number of XDS responses from pilot rejected by proxy.",
            registry,
        )
        self.triggers = Sum(
            "pilot_push_triggers",
            "Total number of times a push was triggered, labeled by reason for the push.",
            registry,
        )
        self.push_time = Histogram(
            "pilot_xds_push_time",
            "Total time in seconds Pilot takes to push lds, rds, cds and eds.",
            ["type"],
            buckets=_TIME_BUCKETS,
            registry=registry,
        )
        self.queue_time = Histogram(
            "pilot_proxy_queue_time",
            "Time in seconds, a proxy is in the push queue before being dequeued.",
            buckets=_PROXY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "pilot_push_queue_depth",
            "Number of proxies waiting in the push queue.",
            registry=registry,
        )
        self.convergence_time = Histogram(
            "pilot_proxy_convergence_time",
            "Delay in seconds between config change and a proxy receiving all required "
            "configuration.",
            buckets=_PROXY_BUCKETS,
            registry=registry,
        )
        self.config_size = Histogram(
            "pilot_xds_config_size_bytes",
            "Distribution of configuration sizes pushed to clients",
            ["type"],
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        self.connections = Gauge(
            "pilot_xds",
            "Number of endpoints connected to this pilot using XDS.",
            ["version"],
            registry=registry,
        )
        self.services = Gauge("pilot_services", "Total services known to pilot.", registry=registry)
        self.virtual_services = Gauge(
            "pilot_virt_services", "Total virtual services known to pilot.", registry=registry
        )
        self._of_type: dict[str, TypeMetrics] = {}

    def of_type(self, kind: str) -> TypeMetrics:
        """The children a response of type `kind` (`cds`, ...) counts in, looked up once per
        type (prometheus_client's `labels()` validates and locks on each call: two calls a
        response, ~30,000 in a storm)."""
        found = self._of_type.get(kind)
        if found is None:
            found = TypeMetrics(
                kind,
                self.pushes.labels(kind),
                self.config_size.labels(kind),
                self.push_time.labels(kind),
            )
            self._of_type[kind] = found
        return found
