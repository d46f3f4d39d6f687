"""Run every benchmark in bench/ one after the other (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in (
    "startup.py",
    "apply_latency.py",
    "dataplane.py",
    "mtls.py",
    "config_overhead.py",
    "dataplane_limit.py",
    "memory.py",
    "xds_push.py",
    "authz.py",
):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parent, check=False)
