"""Prometheus metrics of the xDS server, named as Istio's pilot names them where they exist.

Owns: `XdsMetrics`, registered in a `CollectorRegistry` passed in (never the global one), so
several servers in one process do not clash.

| metric | kind | labels | meaning |
|---|---|---|---|
| `pilot_xds_pushes` (`_total`) | counter | type (cds, eds, lds, rds, sds) | responses sent |
| `pilot_total_xds_rejects` (`_total`) | counter | type | NACKs received from proxies |
| `pilot_xds_push_time` | histogram | type | seconds from sending a response to its ACK |
| `pilot_proxy_convergence_time` | histogram | — | seconds from a new snapshot to all of it ACKed |
| `pilot_xds` | gauge | — | open ADS streams |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_PUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_CONVERGENCE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10, 20, 30)


class XdsMetrics:
    """The server's counters, histograms and gauge, all in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.pushes = Counter(
            "pilot_xds_pushes", "xDS responses sent, by type.", ["type"], registry=registry
        )
        self.rejects = Counter(
            "pilot_total_xds_rejects",
            "xDS responses rejected (NACKed) by proxies, by type.",
            ["type"],
            registry=registry,
        )
        self.push_time = Histogram(
            "pilot_xds_push_time",
            "Seconds from sending an xDS response to its ACK, by type.",
            ["type"],
            buckets=_PUSH_BUCKETS,
            registry=registry,
        )
        self.convergence_time = Histogram(
            "pilot_proxy_convergence_time",
            "Seconds from a new snapshot to the proxy having ACKed all of it.",
            buckets=_CONVERGENCE_BUCKETS,
            registry=registry,
        )
        self.connections = Gauge("pilot_xds", "Open ADS streams from proxies.", registry=registry)
