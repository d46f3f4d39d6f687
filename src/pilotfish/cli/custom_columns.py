"""kubectl's `-o custom-columns=HEADER:PATH,...` and `-o custom-columns-file=FILE` (its
CustomColumnsPrinter): a column per (header, JSONPath), a row per object of every type `get`
found, under one header line (none with `--no-headers`).

A path takes kubectl's relaxed forms (`.metadata.name`, `metadata.name`, `{.metadata.name}`);
a cell is every value the path selects, joined by commas, `<none>` when it selects nothing, each
printed as Go's `%v` prints it (maps `map[k:v]`, lists `[a b]`). The file form is two lines:
the headers, then the paths, split on whitespace. Columns are kubectl's tab writer's: at least
6 wide, 3 spaces between. Errors are kubectl's words (`unexpected custom-columns spec: …`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotfish.cli.get_filters import FilterError, relaxed
from pilotfish.cli.jsonpath import evaluate

Columns = list[tuple[str, str]]  # (header, `{.path}`)
SPEC = "custom-columns="
FILE = "custom-columns-file="
MIN_WIDTH, PADDING = 6, 3  # kubectl's printers.GetNewTabWriter


def is_custom(output: str) -> bool:
    return output.startswith((SPEC, FILE)) or output in ("custom-columns", "custom-columns-file")


def parse(output: str) -> Columns:
    """The columns `-o custom-columns=…|custom-columns-file=…` asks for. Raises FilterError."""
    if output.startswith(FILE):
        return _from_file(output[len(FILE) :])
    spec = output.partition("=")[2]
    if not spec:
        raise FilterError("error: custom-columns format specified but no custom columns given")
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep:
            raise FilterError(
                f"error: unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
            )
        columns.append((header, relaxed(path)))
    return columns


def _from_file(name: str) -> Columns:
    expected = (
        "Expected format is one line of space separated headers, one line of space separated"
        " column specs."
    )
    try:
        lines = Path(name).read_text().splitlines()
    except OSError as exc:
        raise FilterError(f"error: {name}: {exc.strerror or exc}") from None
    if not lines:
        raise FilterError(f"error: invalid template, missing header line. {expected}")
    if len(lines) < 2:
        raise FilterError(f"error: invalid template, missing spec line. {expected}")
    headers, specs = lines[0].split(), lines[1].split()
    if len(headers) != len(specs):
        raise FilterError(
            f"error: number of headers ({len(headers)}) and field specifications"
            f" ({len(specs)}) don't match"
        )
    return [(h, relaxed(s)) for h, s in zip(headers, specs, strict=True)]


def render(columns: Columns, found: list[dict[str, Any]], no_headers: bool = False) -> str:
    """The table (no newline at its end)."""
    rows = [] if no_headers else [[h for h, _ in columns]]
    rows += [[cell(o, path) for _, path in columns] for o in found]
    widths = [max([len(r[i]) + PADDING for r in rows] + [MIN_WIDTH]) for i in range(len(columns))]
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + r[-1] for r in rows
    )


def cell(obj: dict[str, Any], path: str) -> str:
    values = evaluate(obj, path[1:-1]) if path else []
    return ",".join(go_value(v) for v in values) if values else "<none>"


def go_value(value: Any) -> str:
    """A JSON value as Go's `%v` prints the decoded value kubectl holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)
