"""The local mesh's address block: chosen once per instance, stable across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_a_block_held_by_a_running_mesh_is_not_taken(tmp_path: Path) -> None:
    """A mesh whose control plane restarts has its ports free for a moment; its block stays its
    own while its process lives (a lock), so a mesh starting then picks another."""
    first = load_or_choose(tmp_path / "a")
    assert first.claim is not None
    script = (
        "import sys; from pathlib import Path; from pilotfish.local.network import load_or_choose;"
        "print(load_or_choose(Path(sys.argv[1])).block)"
    )
    elsewhere = tmp_path / "b"
    # A state directory whose first choice is the held block: the same path, seen by another
    # process that is not this mesh, would get it if only ports counted.
    (elsewhere).mkdir()
    (elsewhere / "network.json").write_text(json.dumps({"block": first.block, "instances": {}}))
    other = subprocess.run(
        [sys.executable, "-c", script, str(elsewhere)], capture_output=True, text=True, check=True
    )
    assert int(other.stdout) != first.block
    again = load_or_choose(tmp_path / "a")
    assert again.block == first.block, "this process's own mesh keeps its block"
    first.claim.close()
    (elsewhere / "network.json").write_text(json.dumps({"block": first.block, "instances": {}}))
    freed = subprocess.run(
        [sys.executable, "-c", script, str(elsewhere)], capture_output=True, text=True, check=True
    )
    assert int(freed.stdout) == first.block, "a released block is free again"
