"""Boolean flags with a value, as Go's flag package reads them (Istio's cleanup steps: `kubectl
delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml`), over pilotfish's real command
tree; and a real `pilotfish delete` that takes the page's spelling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

import pilotfish.cli.main  # noqa: F401 (registers every command on the app)
from pilotfish.cli.app import app
from pilotfish.cli.flag_values import flag_forms, with_bool_values

ROOT = Path(__file__).resolve().parents[2]


def tree() -> object:
    return typer.main.get_command(app)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["delete", "--ignore-not-found=true", "-f", "x"],
         ["delete", "--ignore-not-found", "-f", "x"]),
        (["delete", "--ignore-not-found=False", "-f", "x"], ["delete", "-f", "x"]),
        (["delete", "--wait=false", "-f", "x"], ["delete", "--no-wait", "-f", "x"]),
        (["delete", "--no-wait=1", "a"], ["delete", "--no-wait", "a"]),
        (["get", "vs", "--all-namespaces=T"], ["get", "vs", "--all-namespaces"]),
        (["annotate", "--overwrite=true", "ap", "x", "k=v"],
         ["annotate", "--overwrite", "ap", "x", "k=v"]),
        # options taking a value, values that are no bool, and what follows `--`: as written
        (["analyze", "--use-kube=false", "a.yaml"], ["analyze", "--use-kube=false", "a.yaml"]),
        (["get", "vs", "-o=true"], ["get", "vs", "-o=true"]),
        (["delete", "--ignore-not-found=yes"], ["delete", "--ignore-not-found=yes"]),
        (["install", "--set=values.x=true"], ["install", "--set=values.x=true"]),
        (["exec", "p", "--", "curl", "--wait=false"], ["exec", "p", "--", "curl", "--wait=false"]),
    ],
)  # fmt: skip
def test_bool_flag_values(argv: list[str], expected: list[str]) -> None:
    assert with_bool_values(argv, tree) == expected


def test_the_tree_is_built_only_for_a_flag_with_a_value() -> None:
    def refuse() -> object:
        raise AssertionError("built")

    assert with_bool_values(["delete", "-f", "x", "--", "--a=true"], refuse)[0] == "delete"


def test_a_flag_on_by_default_without_an_off_form_is_left_to_refuse() -> None:
    forms = flag_forms(tree())
    assert forms["--wait"] == ("--wait", "--no-wait")
    assert forms["--ignore-not-found"] == ("--ignore-not-found", None)
    assert "--use-kube" not in forms and "--output" not in forms


def test_delete_with_the_pages_spelling(tmp_path: Path) -> None:
    """No mesh: `delete --ignore-not-found=true -f FILE` is parsed (click alone says "Option
    '--ignore-not-found' does not take a value", exit 2) and gets as far as the mesh."""
    manifest = tmp_path / "vs.yaml"
    manifest.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: none}\n"
        "spec: {hosts: [none], http: [{route: [{destination: {host: none}}]}]}\n"
    )
    command = ["delete", "--ignore-not-found=true", "-f", str(manifest)]
    result = subprocess.run(
        [sys.executable, "-m", "pilotfish", *command],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PILOTFISH_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: no mesh is running from "), result.stderr
