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


def test_flags_are_checked_before_the_mesh_is_asked(tmp_path: Path) -> None:
    common = {"file": "wg.yaml", "name": None, "namespace": None, "cluster_id": "Kubernetes",
              "ingress_ip": None, "autoregister": True, "capture_dns": True}  # fmt: skip
    with pytest.raises(UserError, match="mutually exclusive"):
        configure_command(tmp_path, output="o", token_duration=3600, internal_ip="1.1.1.1",
                          external_ip="2.2.2.2", **common)  # fmt: skip
    with pytest.raises(UserError, match="-o DIR"):
        configure_command(tmp_path, output="", token_duration=3600, internal_ip=None,
                          external_ip=None, **common)  # fmt: skip
    with pytest.raises(UserError, match="tokenDuration"):
        configure_command(tmp_path, output="o", token_duration=0, internal_ip=None,
                          external_ip=None, **common)  # fmt: skip
    with pytest.raises(UserError, match="no mesh is running"):
        configure_command(tmp_path, output="o", token_duration=60, internal_ip=None,
                          external_ip=None, **common)  # fmt: skip
