"""Reading `-f FILE|DIR|-` arguments into (source, text) pairs, as kubectl does.

A directory contributes its *.yaml, *.yml and *.json files (with `recursive`, those of its
subfolders too), sorted by name. `-` reads standard input.
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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
