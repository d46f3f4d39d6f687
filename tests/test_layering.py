"""The layering of `src/pilotfish` is a test: every `import pilotfish.X` between packages must be
one of the arrows below (an AST walk of every module, `TYPE_CHECKING` imports included), and
the packages that must stay light never import grpc, the agent or kube.

The arrows point downhill, as the package docstrings say: `state_files` is the
bottom floor; `config` → `registry` → `model` → `translate` → `xds` → `controlplane`; the
control plane is wiring, so nothing imports it (`local` starts it as a process); `cli` sits on
top. A new top-level package fails here until its arrows are written down.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "pilotfish"

BOTTOM = {"state_files", "type_urls", "wire"}
ALLOWED: dict[str, set[str]] = {
    "state_files": set(),
    "type_urls": set(),
    "wire": set(),
    "config": BOTTOM,
    "registry": {"config"} | BOTTOM,
    "model": {"config", "registry"},
    "telemetry": {"config", "registry", "model"},
    "capture": {"config", "registry", "model"} | BOTTOM,
    "ca": {"config", "registry", "model"} | BOTTOM,
    "translate": {"config", "registry", "model", "telemetry", "ca", "type_urls", "wire"},
    "xds": BOTTOM,
    "agent": {"config", "registry", "model", "telemetry", "ca", "capture", "xds"} | BOTTOM,
    "ui": {"config", "registry", "model", "telemetry"} | BOTTOM,
    "kube": {"config", "registry", "model", "capture", "ca"} | BOTTOM,
    "controlplane": {
        "config",
        "registry",
        "model",
        "translate",
        "xds",
        "telemetry",
        "ca",
        "ui",
    }
    | BOTTOM,
    "local": {"config", "registry", "model", "agent", "capture", "ca", "telemetry", "ui"} | BOTTOM,
    "cli": {
        "config",
        "registry",
        "model",
        "translate",
        "xds",
        "agent",
        "local",
        "telemetry",
        "ca",
        "capture",
        "kube",
        "ui",
    }
    | BOTTOM,
    "__main__": {"cli"},
    "__init__": set(),
}
"""package → the packages it may import. `controlplane` appears in no set: it is started, never
imported (`python -m pilotfish.controlplane`)."""

LIGHT = {"config", "model", "translate", "registry"}
"""Pure packages: never grpc, never the agent or kube (checked on third-party names too)."""
HEAVY = ("grpc", "pilotfish.agent", "pilotfish.kube")


def package_of(path: Path, src: Path) -> str:
    parts = path.relative_to(src).parts
    return parts[0][: -len(".py")] if len(parts) == 1 else parts[0]


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: use absolute imports")
            if node.module:
                yield node.lineno, node.module


def violations(src: Path) -> list[str]:
    """Every import that is not an allowed arrow, as `file:line: a -> b`."""
    found: list[str] = []
    for path in sorted(src.rglob("*.py")):
        package = package_of(path, src)
        where = path.relative_to(src.parent)
        if package not in ALLOWED:
            found.append(f"{where}: package {package!r} has no arrows declared in ALLOWED")
            continue
        for line, module in imported_modules(path):
            if package in LIGHT and any(module == h or module.startswith(h + ".") for h in HEAVY):
                found.append(f"{where}:{line}: {package} -> {module} (must stay pure)")
            if not module.startswith("pilotfish."):
                continue
            target = module.split(".")[1]
            if target != package and target not in ALLOWED[package]:
                found.append(f"{where}:{line}: {package} -> {target} ({module})")
    return found


def test_every_import_follows_an_allowed_arrow() -> None:
    assert violations(SRC) == []


def test_the_arrows_have_no_cycle() -> None:
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in ALLOWED.get(start, set()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [p for p in ALLOWED if reaches(p, p, set())] == []


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "pilotfish"
    (src / "translate").mkdir(parents=True)
    (src / "agent").mkdir()
    (src / "translate" / "leak.py").write_text(
        "from pilotfish.xds.server import XdsServer\nimport grpc\n"
    )
    (src / "agent" / "peek.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pilotfish.controlplane.core import ControlPlane\n"
    )
    (src / "newpkg.py").write_text("")
    assert violations(src) == [
        "pilotfish/agent/peek.py:3: agent -> controlplane (pilotfish.controlplane.core)",
        "pilotfish/newpkg.py: package 'newpkg' has no arrows declared in ALLOWED",
        "pilotfish/translate/leak.py:1: translate -> xds (pilotfish.xds.server)",
        "pilotfish/translate/leak.py:2: translate -> grpc (must stay pure)",
    ]


INSIDE_CONFIG: dict[str, tuple[str, ...]] = {
    "pilotfish.config.models": ("pilotfish.config.models",),
    "pilotfish.config.validation": ("pilotfish.config.analyzers",),
    "pilotfish.config.analyzers": (),
}
"""Inside `config`: the models import only themselves (a kind loads alone); validation never
imports the analyzers (analysis runs on what validation let through, not the other way)."""


def inner_violations(src: Path) -> list[str]:
    found: list[str] = []
    for path in sorted((src / "config").rglob("*.py")):
        name = ".".join(("pilotfish", *path.relative_to(src).with_suffix("").parts))
        for home, rule in INSIDE_CONFIG.items():
            if not (name == home or name.startswith(home + ".")):
                continue
            for line, module in imported_modules(path):
                if not module.startswith("pilotfish."):
                    continue
                only = home == "pilotfish.config.models"
                inside = any(module == r or module.startswith(r + ".") for r in rule)
                if (only and not inside) or (not only and inside):
                    found.append(f"{path.relative_to(src.parent)}:{line}: {name} -> {module}")
    return found


def test_config_keeps_its_inner_order() -> None:
    assert inner_violations(SRC) == []


def test_an_inner_config_violation_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "pilotfish"
    (src / "config" / "models").mkdir(parents=True)
    (src / "config" / "validation").mkdir()
    (src / "config" / "models" / "x.py").write_text("from pilotfish.config.hosts import a\n")
    (src / "config" / "validation" / "y.py").write_text(
        "from pilotfish.config.models.base import IstioModel\n"
        "import pilotfish.config.analyzers.inventory\n"
    )
    assert inner_violations(src) == [
        "pilotfish/config/models/x.py:1: pilotfish.config.models.x -> pilotfish.config.hosts",
        "pilotfish/config/validation/y.py:2: pilotfish.config.validation.y -> "
        "pilotfish.config.analyzers.inventory",
    ]
