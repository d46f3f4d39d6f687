"""`pilotfish analyze --meshConfigFile FILE`, as istioctl's option: the analyzers that depend on
the mesh config read the file (DNS address auto-allocation silences IST0134, a Lightstep
provider makes tracing through it IST0002), and an unreadable or malformed file is refused with
its name, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.cli.analyze import analyze_command

ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec: {hosts: [db.example.com], ports: [{number: 5432, name: tcp, protocol: TCP}], resolution: DNS}
"""
AUTO_ALLOCATE = """\
defaultConfig:
  proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true", ISTIO_META_DNS_AUTO_ALLOCATE: "true"}
"""
TELEMETRY = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec: {tracing: [{providers: [{name: ls}]}]}
"""
LIGHTSTEP = "extensionProviders: [{name: ls, lightstep: {service: ls.svc, port: 443}}]\n"


def run(tmp_path: Path, inputs: str, mesh: str | None, capsys: pytest.CaptureFixture[str]) -> str:
    (tmp_path / "in.yaml").write_text(inputs)
    config = None
    if mesh is not None:
        (tmp_path / "mesh.yaml").write_text(mesh)
        config = str(tmp_path / "mesh.yaml")
    analyze_command([str(tmp_path / "in.yaml")], mesh_config_file=config, all_namespaces=True)
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_dns_auto_allocation_from_the_mesh_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "[IST0134]" in run(tmp_path, ENTRY, None, capsys)
    assert "[IST0134]" in run(tmp_path, ENTRY, "defaultConfig: {}\n", capsys)
    assert "No validation issues found" in run(tmp_path, ENTRY, AUTO_ALLOCATE, capsys)


def test_lightstep_provider_from_the_mesh_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "IST0002" not in run(tmp_path, TELEMETRY, None, capsys)
    out = run(tmp_path, TELEMETRY, LIGHTSTEP, capsys)
    assert "Warning [IST0002] (Telemetry istio-system/mesh-default" in out
    assert "The Lightstep provider ls is deprecated" in out


@pytest.mark.parametrize("text", ["a: [\n", "- a list\n"])
def test_a_bad_mesh_config_file_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (tmp_path / "in.yaml").write_text(ENTRY)
    (tmp_path / "mesh.yaml").write_text(text)
    code = analyze_command(
        [str(tmp_path / "in.yaml")], mesh_config_file=str(tmp_path / "mesh.yaml")
    )
    err = capsys.readouterr().err
    assert code == 1 and f"{tmp_path / 'mesh.yaml'}" in err and "Traceback" not in err
    missing = analyze_command([str(tmp_path / "in.yaml")], mesh_config_file=str(tmp_path / "no"))
    assert missing == 1 and "--meshConfigFile" in capsys.readouterr().err
