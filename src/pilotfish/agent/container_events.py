"""A container's events (`EventLog`), as the kubelet records them and the API server keeps
them: the probes' Unhealthy and Killing (`kubelet_probes`) and the restart back-off's BackOff
(`restart_backoff`). Events of the same type, reason and message are one entry with a `count`
and the `first` and `last` times it happened (epoch seconds), as the API server aggregates
them; a container keeps its latest `MAX_EVENTS` distinct ones."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_EVENTS = 20  # a container keeps its latest distinct events (the API server expires old ones)


@dataclass
class EventLog:
    """A container's events, aggregated by (type, reason, message)."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, kind: str, reason: str, message: str, now: float | None = None) -> None:
        at = time.time() if now is None else now
        for entry in self.entries:
            if (entry["type"], entry["reason"], entry["message"]) == (kind, reason, message):
                entry["count"] += 1
                entry["last"] = at
                self.entries.remove(entry)
                self.entries.append(entry)
                return
        self.entries.append(
            {"type": kind, "reason": reason, "message": message, "count": 1, "first": at,
             "last": at}
        )  # fmt: skip
        del self.entries[:-MAX_EVENTS]
