"""`pilotfish validate -f FILE|DIR|-`: istioctl validate semantics over pilotfish.config.

`validate_report(result)` is the pure core (lines to print, exit code); `validate_command` reads
the inputs, prints, and returns the exit code: 0 when every document is valid, 1 otherwise.
Warnings (such as unknown fields) are printed but do not fail; `--strict` makes them errors.
"""

from __future__ import annotations

import sys

from pilotfish.config import LoadResult, load_paths


def validate_report(result: LoadResult) -> tuple[list[str], int]:
    lines = [f"{d.level}: {d}" for d in result.diagnostics]
    if result.ok:
        count = len(result.objects) + len(result.others)
        lines.append(f"validation succeeded: {count} document(s) checked")
        return lines, 0
    lines.append(f"validation failed: {len(result.errors)} error(s)")
    return lines, 1


def validate_command(paths: list[str], strict: bool = False) -> int:
    if not paths:
        print("error: no input: use -f FILE, DIR or -", file=sys.stderr)
        return 2
    lines, code = validate_report(load_paths(paths, strict=strict))
    for line in lines:
        print(line)
    return code
