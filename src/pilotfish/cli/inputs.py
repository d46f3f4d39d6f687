"""Reading `-f FILE|DIR|-` and `-k DIR` arguments into (source, text) pairs, as kubectl does.

A directory contributes its *.yaml, *.yml and *.json files (with `recursive`, those of its
subfolders too), sorted by name. `-` reads standard input. `-k DIR` (kubectl's kustomize, and
what `pilotfish up DIR` reads when DIR has one) reads DIR's `kustomization.yaml`: the files and
directories (each with its own kustomization) its `resources` list, in that order; kustomize's
other transformations are refused by name rather than ignored.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUFFIXES = (".yaml", ".yml", ".json")


class InputError(Exception):
    """A path that cannot be read; the message names it."""


def read_inputs(paths: list[str], recursive: bool = False) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    for raw in paths:
        if raw == "-":
            files.append(("<stdin>", sys.stdin.read()))
            continue
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{raw}: no .yaml, .yml or .json files in this directory")
            files.extend((str(p), _read(p)) for p in found)
        elif path.exists():
            files.append((str(path), _read(path)))
        else:
            raise InputError(f"{raw}: no such file or directory")
    return files


KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZATION_FIELDS = ("apiVersion", "kind", "metadata", "resources")


def kustomization_of(directory: str) -> Path | None:
    """DIR's kustomization file, if it has one."""
    path = Path(directory)
    return next((path / n for n in KUSTOMIZATIONS if (path / n).is_file()), None)


def read_kustomization(directory: str, seen: tuple[Path, ...] = ()) -> list[tuple[str, str]]:
    """The documents DIR's kustomization lists in `resources`, in its order."""
    from ruamel.yaml import YAML, YAMLError

    found = kustomization_of(directory)
    if found is None:
        raise InputError(f"{directory}: no kustomization.yaml in this directory")
    if found.resolve() in seen:
        raise InputError(f"{found}: resources include themselves")
    try:
        spec = YAML(typ="safe", pure=True).load(_read(found)) or {}
    except YAMLError as exc:
        raise InputError(f"{found}: not YAML: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("resources", []), list):
        raise InputError(f"{found}: resources must be a list of files and directories")
    for field in spec:
        if field not in KUSTOMIZATION_FIELDS:
            raise InputError(f"{found}: {field}: not supported here (only resources)")
    files: list[tuple[str, str]] = []
    for entry in spec.get("resources") or []:
        path = found.parent / str(entry)
        if "://" in str(entry) or not path.exists():
            raise InputError(f"{found}: resources: {entry}: no such file or directory")
        if path.is_dir():
            files += read_kustomization(str(path), (*seen, found.resolve()))
        else:
            files.append((str(path), _read(path)))
    return files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
