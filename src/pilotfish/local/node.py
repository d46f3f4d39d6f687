"""The one node of a local mesh: this machine. Its capacity is all allocatable, as `get node -o
yaml` shows it and as the Downward API gives a container's `limits.*` left unset. Kept apart
from `specs` so that commands which only show it (`top`, `get node`) import nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path


def node_allocatable() -> tuple[int, int]:
    """(CPUs, memory bytes) of this machine."""
    total = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    return os.cpu_count() or 1, total
