"""State on disk is written atomically: a failed write leaves the old file and no temp file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.state_files import write_atomically


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    write_atomically(path, "old\n")

    def broken(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", broken)
    with pytest.raises(OSError):
        write_atomically(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
