"""Every example in samples/ loads and validates with no diagnostics at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.cli.inputs import KUSTOMIZATIONS
from pilotfish.config import load_paths

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize(
    "path",
    sorted(str(p) for p in SAMPLES.rglob("*.yaml") if p.name not in KUSTOMIZATIONS),
)  # a kustomization.yaml lists files to apply (`up`, `apply -k`); it is no object itself
def test_sample_is_valid(path: str) -> None:
    result = load_paths([path])
    assert [str(d) for d in result.diagnostics] == []
    assert result.objects or result.others
