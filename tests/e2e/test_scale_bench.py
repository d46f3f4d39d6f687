"""The scale benchmark, CI-sized, as a correctness test (not timed): the real control plane
process fed through its API, simulated proxies speaking real gRPC ADS (SotW and delta, ACKing as
Envoy does; no real Envoy here), a connect storm then a targeted, an endpoint and two mesh-wide
changes (the outbound traffic policy, every DestinationRule). Every proxy must be pushed every
change (none of them has a Sidecar or exportTo, so each sees every service), and at the end
every proxy must hold (have ACKed) the newest version of every type the control plane has for
it: incremental pushes end where the control plane is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
SERVICES, PROXIES = 10, 20


def test_every_proxy_gets_every_change_and_ends_synced() -> None:
    command = [sys.executable, str(BENCH), "--services", str(SERVICES)]
    command += ["--proxies", str(PROXIES), "--envoys", "0", "--timeout", "90", "--quiet", "0.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    changes = {cells[0].strip(): int(cells[1]) for cells in rows if cells[1].strip().isdigit()}
    kinds = ["connect", "targeted", "endpoint", "mesh-wide", "mesh-wide-dr"]
    for kind in kinds:
        found = [pushed for name, pushed in changes.items() if name.split(" ")[0] == kind]
        assert found == [PROXIES], (kind, changes)
    assert f"synced: {PROXIES}/{PROXIES} proxies" in result.stdout, result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert re.match(rf"scale: services={SERVICES} proxies={PROXIES} connect_s=[\d.]+ ", last), last
    assert re.search(r" meshwide_s=[\d.]+ meshwide_dr_s=[\d.]+ ", last), last
