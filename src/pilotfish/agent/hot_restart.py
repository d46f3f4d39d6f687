"""Envoy's hot restart, for a gateway's Envoy (what Istio's pilot-agent did for years).

A restart starts a new Envoy (restart epoch N+1) beside the running one. Over a unix socket the
new one asks the old for its listen sockets (the same sockets, so no connection is refused while
both run) and to close its admin listener; once initialised it tells the old one to drain: the
old Envoy's listeners stop accepting, HTTP responses ask clients to close (`--drain-time-s`),
requests in flight finish, and the old Envoy exits after `--parent-shutdown-time-s`. A restart
therefore loses no request, unlike a stop and start.

Every Envoy on the host needs its own base id (its shared memory and socket names): the first
start lets Envoy choose one (`--use-dynamic-base-id`, written to `envoy-base-id` in the run
directory); later starts reuse it — epoch 0 after a crash (Envoy reinitialises the region), the
next epoch for a hot restart. `cleanup` removes the shared memory region once the last Envoy has
stopped (Envoy leaves it behind); `sweep_stale_regions` removes those of Envoys killed together
with their agent (no process maps them any more), as `pilotfish up` and `down` start and end.

Bookkeeping apart from reading the base id file, /proc/*/maps and removing regions.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

SHM_DIR = Path("/dev/shm")
BASE_ID_FILE = "envoy-base-id"
LDS_DRAIN_SECONDS = 1  # also Envoy's drain of a listener removed over LDS (kept short)
# Envoy's drain flags, as Istio's pilot-agent passes them: `immediate`, so every response on a
# draining connection asks its client to close at once. Envoy's default (`gradual`) raises that
# chance over the drain time, so a busy connection kept being reused until the drain's end closed
# it under the next request: a 503 UC at the client per listener change under load (measured:
# 2-3 per 30 Telemetry changes at 200 req/s; bench/telemetry_overhead.py saw them first).
DRAIN_FLAGS = ("--drain-time-s", str(LDS_DRAIN_SECONDS), "--drain-strategy", "immediate")
REGION = "envoy_shared_memory_"
STALE_AFTER = 60.0  # seconds: a region this old that no process maps is left over


@dataclass
class HotRestart:
    run_dir: Path
    termination_drain: float  # Istio's terminationDrainDuration: the old Envoy's requests finish
    epoch: int = 0

    @property
    def base_id_path(self) -> Path:
        return self.run_dir / BASE_ID_FILE

    @property
    def parent_shutdown_seconds(self) -> int:
        """How long the old Envoy lives once the new one runs: the drain, plus time for the
        requests the drain left in flight (at least 3 s of them)."""
        return LDS_DRAIN_SECONDS + math.ceil(max(self.termination_drain, 3.0)) + 1

    def base_id(self) -> int | None:
        try:
            return int(self.base_id_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def flags(self) -> list[str]:
        """Envoy's command line flags for the current epoch."""
        timing = [*DRAIN_FLAGS, "--parent-shutdown-time-s", str(self.parent_shutdown_seconds)]
        base = self.base_id()
        if base is None:
            self.epoch = 0
            return ["--use-dynamic-base-id", "--base-id-path", str(self.base_id_path), *timing]
        return ["--base-id", str(base), "--restart-epoch", str(self.epoch), *timing]

    def cleanup(self, shm: Path = SHM_DIR) -> None:
        """Remove the shared memory region of this base id (Envoy scales the id by 10)."""
        base = self.base_id()
        if base is not None:
            (shm / f"{REGION}{base * 10}").unlink(missing_ok=True)


def sweep_stale_regions(shm: Path = SHM_DIR, proc: Path = Path("/proc")) -> list[Path]:
    """Remove the hot-restart regions no process maps any more and older than `STALE_AFTER`
    (an Envoy starting this instant has created its region but maybe not mapped it yet)."""
    regions = list(shm.glob(f"{REGION}*"))
    if not regions:
        return []
    mapped: set[str] = set()
    for maps in proc.glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:
            continue
        if REGION in text:
            mapped.update(re.findall(rf"/({REGION}\d+)$", text, flags=re.M))
    removed = []
    now = time.time()
    for region in regions:
        try:
            age = now - region.stat().st_mtime
        except OSError:
            continue
        if region.name not in mapped and age > STALE_AFTER:
            region.unlink(missing_ok=True)
            removed.append(region)
    return removed
