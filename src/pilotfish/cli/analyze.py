"""`pilotfish analyze [-f FILES...] [--use-mesh] [--meshConfigFile FILE]`: istioctl analyze,
with its output and exit codes.

`analyze_report(messages, output_threshold, failure_threshold, target)` is the pure core; the
command prints `Severity [CODE] (Kind name.namespace file:line) message` lines and returns 79 when
a message reaches the failure threshold (Error by default), 0 otherwise, 2 for a usage mistake
and 1 when the running mesh cannot be read. With `--use-mesh` the running local mesh (found from
the state directory) is analysed, as it is when no file is given and a mesh runs: its stored
documents (`GET /api/v1/config`) and its registry (`GET /debug/registryz`), with `-f` files
overriding objects of the same kind/namespace/name. `--meshConfigFile` gives the MeshConfig the
analyzers read (DNS auto-allocation, providers, proxy image type), as istioctl's option does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pilotfish.cli.inputs import InputError, read_inputs
from pilotfish.config import LoadResult, load
from pilotfish.config.analyzers.analyze import SEVERITY_RANK, AnalysisMessage, Inventory, analyze
from pilotfish.config.analyzers.mesh_config import MeshConfigError, parse_mesh_yaml

ANALYZE_FAILED = 79
SEVERITIES = ("Info", "Warning", "Error")


def analyze_report(
    messages: list[AnalysisMessage],
    output_threshold: str,
    failure_threshold: str,
    target: str = "the given files",
) -> tuple[list[str], int]:
    shown = [m for m in messages if SEVERITY_RANK[m.severity] >= SEVERITY_RANK[output_threshold]]
    lines = [str(m) for m in shown]
    if not shown:
        lines.append(f"\u2714 No validation issues found when analyzing {target}.")
    failed = any(SEVERITY_RANK[m.severity] >= SEVERITY_RANK[failure_threshold] for m in messages)
    return lines, ANALYZE_FAILED if failed else 0


def _read_mesh(state_dir: Path) -> tuple[list[Any], Any]:
    """The running mesh's stored documents and registry; UserError when it cannot be read."""
    from pilotfish.cli.errors import UserError, mesh_call, running_mesh

    info = running_mesh(state_dir)
    status, config = mesh_call(info, "GET", "/api/v1/config")
    if status != 200 or not isinstance(config, dict):
        raise UserError(f"GET /api/v1/config: HTTP {status}")
    status, registry = mesh_call(info, "GET", "/debug/registryz")
    if status != 200:
        raise UserError(f"GET /debug/registryz: HTTP {status}")
    return list(config.get("documents") or []), registry


def _mesh_running(state_dir: Path | None) -> bool:
    from pilotfish.local.client import MeshNotRunning, default_state_dir, read_mesh

    try:
        read_mesh(state_dir or default_state_dir())
    except MeshNotRunning:
        return False
    return True


def load_inputs(paths: list[str], recursive: bool = False) -> LoadResult:
    """The objects the inputs define, as kubectl would apply them: a directory gives its own
    files (its subfolders too with `recursive`), and an object defined twice (same kind,
    namespace and name) is the later definition only. Raises InputError for unreadable paths."""
    result = LoadResult()
    for source, text in read_inputs(paths, recursive):
        result.extend(load(text, source))
    objects = {obj.meta.key: obj for obj in result.objects}
    others = {
        (doc.api_version.split("/")[0], doc.kind, doc.metadata.get("namespace") or "default",
         doc.metadata.get("name")): doc
        for doc in result.others
    }  # fmt: skip
    return LoadResult(
        list(objects.values()), list(others.values()), result.diagnostics, result.rejected
    )


def _mesh_config(path: str | None) -> dict[str, Any] | None:
    """The `--meshConfigFile` mapping (None without the option); InputError when unreadable."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--meshConfigFile {path}: {exc}") from None
    return parse_mesh_yaml(text, path)


def analyze_command(
    paths: list[str],
    output_threshold: str = "Info",
    failure_threshold: str = "Error",
    use_mesh: bool = False,
    state_dir: Path | None = None,
    recursive: bool = False,
    mesh_config_file: str | None = None,
) -> int:
    for value in (output_threshold, failure_threshold):
        if value not in SEVERITIES:
            print(f"error: threshold must be one of {', '.join(SEVERITIES)}", file=sys.stderr)
            return 2
    if not paths and not use_mesh:  # `istioctl analyze` alone analyses the live cluster
        if not _mesh_running(state_dir):
            print("error: no input: use -f FILE, DIR or -, or start a mesh", file=sys.stderr)
            return 2
        use_mesh = True
    try:
        result = load_inputs(paths, recursive) if paths else LoadResult()
        mesh_config = _mesh_config(mesh_config_file)
    except (InputError, MeshConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mesh: Inventory | None = None
    target = "the given files"
    if use_mesh:
        from pilotfish.config.analyzers.inventory import inventory_from_registryz
        from pilotfish.config.analyzers.mesh import combine
        from pilotfish.local.client import default_state_dir

        documents, registry = _read_mesh(state_dir or default_state_dir())
        result = combine(documents, result)
        mesh = inventory_from_registryz(registry)
        target = "the running mesh" + (" and the given files" if paths else "")
    messages = analyze(result, mesh, mesh_config)
    lines, code = analyze_report(messages, output_threshold, failure_threshold, target)
    for line in lines:
        print(line)
    return code
