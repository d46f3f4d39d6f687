"""`pilotfish x workload entry configure`'s input checks (the files it writes are
`tests/agent/test_vm_files.py`; the command against a running mesh, `tests/e2e/test_vm_join.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.cli.errors import UserError
from pilotfish.cli.workload_entry import _group_from_file, configure_command


def test_the_file_must_hold_one_valid_workload_group(tmp_path: Path) -> None:
    good = tmp_path / "wg.yaml"
    good.write_text(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {name: vm}\n"
        "spec: {template: {serviceAccount: sa}}\n"
    )
    assert _group_from_file(str(good))["metadata"]["name"] == "vm"
    other = tmp_path / "gw.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(UserError, match="expected one WorkloadGroup, found 0"):
        _group_from_file(str(other))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {name: vm}\n"
        "spec: {template: {weight: many}}\n"
    )
    with pytest.raises(UserError, match=r"bad\.yaml:4"):
        _group_from_file(str(bad))
    with pytest.raises(UserError, match="cannot read"):
        _group_from_file(str(tmp_path / "missing.yaml"))


def _configure(
    state_dir: Path, output: str, token_duration: int, internal_ip: str | None, external: str | None
) -> int:
    return configure_command(
        state_dir, file="wg.yaml", name=None, namespace=None, output=output,
        cluster_id="Kubernetes", token_duration=token_duration, ingress_ip=None,
        autoregister=True, capture_dns=True, internal_ip=internal_ip, external_ip=external,
    )  # fmt: skip


def test_flags_are_checked_before_the_mesh_is_asked(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="mutually exclusive"):
        _configure(tmp_path, "o", 3600, "1.1.1.1", "2.2.2.2")
    with pytest.raises(UserError, match="-o DIR"):
        _configure(tmp_path, "", 3600, None, None)
    with pytest.raises(UserError, match="tokenDuration"):
        _configure(tmp_path, "o", 0, None, None)
    with pytest.raises(UserError, match="no mesh is running"):
        _configure(tmp_path, "o", 60, None, None)
