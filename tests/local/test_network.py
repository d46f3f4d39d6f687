"""The local mesh's address block: chosen once per instance, stable across restarts."""

from __future__ import annotations

from pathlib import Path

from pilotfish.local.network import load_or_choose


def test_address_block_is_stable_and_per_instance(tmp_path: Path) -> None:
    first = load_or_choose(tmp_path)
    a = first.ip_for("reviews-v1-0")
    b = first.ip_for("reviews-v2-0")
    assert a != b and a.startswith(f"127.{first.block}.1.")
    first.save(tmp_path / "network.json")
    second = load_or_choose(tmp_path)
    assert second.block == first.block and second.ip_for("reviews-v1-0") == a
