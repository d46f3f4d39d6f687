"""The scale benchmark, CI-sized, as a correctness test (not timed): the real control plane
process fed through its API, simulated proxies speaking real gRPC ADS (SotW and delta, ACKing as
Envoy does; no real Envoy here), a connect storm then a targeted, an endpoint and two mesh-wide
changes (the outbound traffic policy, every DestinationRule). Every proxy must be pushed every
change (none of them has a Sidecar or exportTo, so each sees every service), and at the end
every proxy must hold (have ACKed) the newest version of every type the control plane has for
it: incremental pushes end where the control plane is. With real Envoys among them, in both
modes (every proxy sees every service; pilotfish's default, on-demand clusters and virtual
hosts), each Envoy must hold every change with nothing left warming, and answer a first request
to services it never called (503: nothing listens behind the simulated endpoints).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("mode", [[], ["--on-demand-routes"]], ids=["every-service", "on-demand"])
def test_real_envoys_hold_every_change_and_answer_first_requests(mode: list[str]) -> None:
    command = [sys.executable, str(BENCH), "--services", str(SERVICES), "--proxies", str(PROXIES)]
    command += ["--envoys", "2", "--client-processes", "1", "--timeout", "90", "--quiet", "0.5"]
    result = subprocess.run(command + mode, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    first = next(line for line in result.stdout.splitlines() if line.startswith("first requests"))
    assert first.endswith("(statuses ['503'])"), first  # Envoy answered: route and cluster there
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    envoy_ms = {cells[0].strip().split(" ")[0]: cells[-1].strip() for cells in rows}
    for kind in ("connect", "targeted", "mesh-wide", "mesh-wide-dr"):  # each Envoy's own time
        assert envoy_ms[kind].isdigit(), (kind, envoy_ms)
    assert f"synced: {PROXIES}/{PROXIES} proxies" in result.stdout, result.stdout
