"""kubectl's `get KIND NAME1 NAME2 …`: several names of one kind (or `TYPE/NAME` of one type),
printed in the order given; a name not found is kubectl's `Error from server (NotFound)` on
stderr, after the others, and exit 1. Run here on the CRDs, which need no mesh (`get svc|pods|vs
a b` against a mesh: tests/e2e/test_kubectl_habits.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pilotfish.cli.get import named

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = "gateways.gateway.networking.k8s.io"
ROUTES = "httproutes.gateway.networking.k8s.io"


def get(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", "get", *args],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PILOTFISH_HOME": str(home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_several_names_print_in_the_order_given(tmp_path: Path) -> None:
    both = get(tmp_path, "crd", ROUTES, GATEWAYS)
    assert both.returncode == 0, both.stderr
    assert [line.split()[0] for line in both.stdout.splitlines()] == ["NAME", ROUTES, GATEWAYS]
    typed = get(tmp_path, f"crd/{GATEWAYS}", f"crd/{ROUTES}", "-o", "name")
    assert typed.returncode == 0, typed.stderr
    prefix = "customresourcedefinition.apiextensions.k8s.io/"
    assert typed.stdout == f"{prefix}{GATEWAYS}\n{prefix}{ROUTES}\n", typed.stdout


def test_a_missing_name_is_an_error_the_others_still_print(tmp_path: Path) -> None:
    some = get(tmp_path, "crd", GATEWAYS, "nosuch.example.com", ROUTES)
    assert some.returncode == 1
    assert [line.split()[0] for line in some.stdout.splitlines()] == ["NAME", GATEWAYS, ROUTES]
    assert some.stderr == (
        "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
        '"nosuch.example.com" not found\n'
    )
    mixed = get(tmp_path, f"crd/{GATEWAYS}", ROUTES)
    assert mixed.returncode == 1
    assert "must have a single resource and name" in mixed.stderr, mixed.stderr


def test_named_keeps_the_order_given_and_reports_the_missing() -> None:
    def obj(name: str, namespace: str) -> dict[str, object]:
        return {"metadata": {"name": name, "namespace": namespace}}

    found = [obj("a", "x"), obj("b", "x"), obj("a", "y"), obj("c", "x")]
    picked, missing = named(found, ["c", "zz", "a"])
    assert picked == [found[3], found[0], found[2]] and missing == ["zz"]
    assert named(found, []) == (found, [])
