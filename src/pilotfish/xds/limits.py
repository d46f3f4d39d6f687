"""What one xDS client may cost the control plane, and how it is refused otherwise.

| limit | default | when exceeded |
|---|---|---|
| request message | `MAX_REQUEST_BYTES` 4 MiB (gRPC's default) | stream ends (over 16 MiB: gRPC) |
| open ADS streams | `max_streams` 4,096 | the new stream ends: RESOURCE_EXHAUSTED |
| streams of one node id | `max_streams_per_node` 8 | the new stream is closed |
| responses queued, one stream | `max_queued` 256 | closed (a client that stopped reading) |
| one write to the client | `write_timeout` 30 s | closed (it was holding a write slot) |
| snapshots of gone nodes | `max_idle_snapshots` 1,024 | the oldest are forgotten |

Each refusal counts in `pilotfish_xds_refused_streams_total{reason}` (reasons: unauthenticated
(the observer refused its credential), streams, node_streams, queue, slow, size, malformed,
no_node) and logs a WARNING line saying which limit — at
most one line per reason every 10 s, with the count refused meanwhile, so a flood of bad
clients cannot flood the log. Pure bookkeeping: no I/O but logging.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("pilotfish.xds")

MAX_REQUEST_BYTES = 4 * 1024 * 1024
LOG_EVERY = 10.0  # seconds between two log lines of one reason


@dataclass(frozen=True)
class StreamLimits:
    max_streams: int = 4096
    max_streams_per_node: int = 8
    max_queued: int = 256
    write_timeout: float = 30.0
    max_idle_snapshots: int = 1024


DEFAULT_LIMITS = StreamLimits()


@dataclass
class Refusals:
    """Counts refusals (metric) and logs them, rate-limited per reason."""

    registry: CollectorRegistry
    counter: Counter = field(init=False)
    _last_logged: dict[str, float] = field(default_factory=dict)
    _unlogged: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counter = Counter(
            "pilotfish_xds_refused_streams",
            "xDS streams refused or closed for exceeding a limit, by reason",
            ["reason"],
            registry=self.registry,
        )

    def refuse(self, reason: str, message: str) -> None:
        self.counter.labels(reason).inc()
        now = time.monotonic()
        if now - self._last_logged.get(reason, -LOG_EVERY) < LOG_EVERY:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return
        more = self._unlogged.pop(reason, 0)
        suffix = f" ({more} more refused for this reason since the last line)" if more else ""
        log.warning("xds: %s%s", message, suffix)
        self._last_logged[reason] = now
