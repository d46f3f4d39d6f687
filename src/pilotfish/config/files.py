"""Reading config from the file system: `load_paths(paths)` for files, directories and "-".

Owns the I/O edge of the config package: a directory is read recursively (`*.yaml`, `*.yml`,
sorted), "-" is standard input, and a file that cannot be read, or is too large, becomes an
error Diagnostic. Everything else is `pilotfish.config.load`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pilotfish.config.load import LoadResult, load
from pilotfish.config.objects import Diagnostic, Source
from pilotfish.config.yaml_text import MAX_BYTES

YAML_SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """Files named, and YAML files under the directories named, in order; "-" kept as is."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for name in paths:
        if name == "-":
            files.append(name)
            continue
        path = Path(name)
        if path.is_dir():
            files.extend(
                str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in YAML_SUFFIXES
            )
        elif path.is_file():
            files.append(name)
        else:
            problems.append(Diagnostic("error", "no such file or directory", source=Source(name)))
    return files, problems


def read_text(name: str) -> tuple[str | None, Diagnostic | None]:
    """The text of a file (or stdin for "-"), bounded by MAX_BYTES."""
    try:
        if name == "-":
            text = sys.stdin.read(MAX_BYTES + 1)
        else:
            with open(name, encoding="utf-8") as handle:
                text = handle.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        return None, Diagnostic("error", f"cannot read: {exc}", source=Source(name))
    if len(text) > MAX_BYTES:
        return None, Diagnostic(
            "error", f"input is larger than {MAX_BYTES} bytes", source=Source(name)
        )
    return text, None


def load_paths(paths: list[str], strict: bool = False) -> LoadResult:
    """Load and validate every document in the given files, directories, or "-" (stdin)."""
    files, problems = expand_paths(paths)
    result = LoadResult(diagnostics=problems)
    for name in files:
        text, problem = read_text(name)
        if problem is not None:
            result.diagnostics.append(problem)
            continue
        assert text is not None
        result.extend(load(text, "<stdin>" if name == "-" else name, strict))
    return result
