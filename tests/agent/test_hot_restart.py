"""Envoy's hot restart for a gateway's agent: the command line of each epoch, and the shared
memory regions an Envoy killed with its agent leaves behind (swept when no process maps them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pilotfish.agent.hot_restart import STALE_AFTER, HotRestart, sweep_stale_regions


def test_flags_choose_a_base_id_once_then_reuse_it(tmp_path: Path) -> None:
    hot = HotRestart(tmp_path, termination_drain=5.0)
    first = hot.flags()
    assert "--use-dynamic-base-id" in first and str(hot.base_id_path) in first
    hot.base_id_path.write_text("4242\n")  # what Envoy writes
    hot.epoch = 1
    again = hot.flags()
    assert again[:4] == ["--base-id", "4242", "--restart-epoch", "1"]
    assert again[again.index("--parent-shutdown-time-s") + 1] == "7"  # drain 1 + 5 + 1
    # As Istio's pilot-agent: every response on a draining connection asks its client to close.
    assert again[again.index("--drain-strategy") + 1] == "immediate"
    region = tmp_path / "envoy_shared_memory_42420"
    region.write_text("")
    hot.cleanup(shm=tmp_path)
    assert not region.exists()


def test_only_old_regions_no_process_maps_are_swept(tmp_path: Path) -> None:
    shm, proc = tmp_path / "shm", tmp_path / "proc"
    (proc / "123").mkdir(parents=True)
    shm.mkdir()
    (proc / "123" / "maps").write_text(
        "7fa1-7fa2 rw-s 00000000 00:1b 65    /dev/shm/envoy_shared_memory_20\n"
    )
    old = time.time() - STALE_AFTER - 5
    for name in ("envoy_shared_memory_10", "envoy_shared_memory_20", "envoy_shared_memory_30"):
        (shm / name).write_text("")
    for name in ("envoy_shared_memory_10", "envoy_shared_memory_20"):
        os.utime(shm / name, (old, old))
    removed = sweep_stale_regions(shm, proc)
    assert [p.name for p in removed] == ["envoy_shared_memory_10"]  # 20 mapped, 30 too new
    assert sorted(p.name for p in shm.iterdir()) == [
        "envoy_shared_memory_20",
        "envoy_shared_memory_30",
    ]
