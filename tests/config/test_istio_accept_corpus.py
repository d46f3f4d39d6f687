"""Istio's own sample and test config (istio_accept_corpus/, see its README: 197 files of
istio/istio that Istio accepts) passes `pilotfish validate -f`: every file on its own with no
error (warnings allowed), and the whole directory through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.test_validate_analyze import pilotfish

from pilotfish.config import load_paths

CORPUS = Path(__file__).parent / "istio_accept_corpus"
FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))


def test_corpus_is_there() -> None:
    assert len(FILES) == 197


@pytest.mark.parametrize("name", FILES)
def test_istio_accepts_so_does_pilotfish(name: str) -> None:
    result = load_paths([str(CORPUS / name)])
    assert result.ok, [str(d) for d in result.errors]
    assert result.objects or result.others


def test_validate_command_accepts_the_directory(tmp_path: Path) -> None:
    run = pilotfish("validate", "-f", str(CORPUS), home=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "validation succeeded: 378 document(s) checked" in run.stdout
