"""The test meshes' ingress addresses: one per running mesh across the test processes (two
gateways on one address would share its connections: Envoy binds with SO_REUSEPORT)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.e2e.meshctl import ROOT, claim_ingress

CLAIM = "from tests.e2e.meshctl import claim_ingress; claim_ingress(sys.argv[1])"


def claim_elsewhere(address: str) -> subprocess.CompletedProcess[str]:
    script = f"import sys; {CLAIM}"
    return subprocess.run(
        [sys.executable, "-c", script, address], cwd=ROOT, capture_output=True, text=True
    )


def test_an_ingress_address_is_held_until_released() -> None:
    address, claim = claim_ingress()
    assert address.startswith("127.255.")
    try:
        taken = claim_elsewhere(address)
        assert taken.returncode != 0 and f"ingress address {address} taken" in taken.stderr
        with pytest.raises(AssertionError, match="taken by another test"):
            claim_ingress(address)  # this process's other meshes too
        others = [claim_ingress() for _ in range(50)]  # held together: all different
        assert len({a for a, _ in others} | {address}) == 51
        for _, held in others:
            held.close()
    finally:
        claim.close()
    assert claim_elsewhere(address).returncode == 0, "a released address is free again"
