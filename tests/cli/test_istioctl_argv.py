"""istioctl spellings typer alone would refuse: `analyze -k` bare (Istio's "Diagnose your
Configuration with Istioctl Analyze": `istioctl analyze -k`, `-k --namespace default`) and the
global logging flags of Istio's "Component Logging" page (`istioctl analyze --log_output_level
klog:none,cli:info`); a real `pilotfish analyze` with them prints what it prints without them.
`version` with no mesh says so as istioctl does with no Istio in the cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pilotfish
from pilotfish.cli.main import istioctl_argv

ROOT = Path(__file__).resolve().parents[2]
VS = "samples/bookinfo/networking/virtual-service-all-v1.yaml"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["analyze", "-k"], ["analyze", "--use-kube=true"]),
        (["analyze", "-k", "-n", "default"], ["analyze", "--use-kube=true", "-n", "default"]),
        (["analyze", "-k", "a.yaml"], ["analyze", "-k", "a.yaml"]),  # the command reads it
        (["analyze", "--use-kube=false", "a.yaml"], ["analyze", "--use-kube=false", "a.yaml"]),
        (["analyze", "--log_output_level", "klog:none,cli:info"], ["analyze"]),
        (["--log_target=stdout", "analyze", "--log_as_json", "-"], ["analyze", "-"]),
        (["get", "pods", "-k"], ["get", "pods", "-k"]),  # only analyze's -k
        (
            ["exec", "p", "--", "sh", "--log_target", "x"],
            ["exec", "p", "--", "sh", "--log_target", "x"],
        ),
    ],
)
def test_istioctl_spellings(argv: list[str], expected: list[str]) -> None:
    assert istioctl_argv(argv) == expected


def analyze(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", "analyze", *args],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PILOTFISH_HOME": str(home)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_logging_flags_change_nothing_analyze_prints(tmp_path: Path) -> None:
    plain = analyze("--use-kube=false", VS, home=tmp_path)
    assert plain.returncode == 79 and "IST0101" in plain.stdout, plain.stderr
    logged = analyze(
        "--log_output_level", "klog:none,cli:info", "--use-kube=false", VS, home=tmp_path
    )
    assert (logged.returncode, logged.stdout, logged.stderr) == (
        plain.returncode, plain.stdout, plain.stderr,
    )  # fmt: skip


def test_a_bare_k_without_a_mesh_is_the_usual_no_input_error(tmp_path: Path) -> None:
    result = analyze("-k", home=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: no input: give FILE, DIR or -, or start a mesh\n"


def test_version_without_a_mesh_says_so_as_istioctl(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pilotfish", "version"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PILOTFISH_HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0].startswith("Istio is not present in the cluster")
    assert lines[1:] == [f"client version: {pilotfish.__version__}"]
