"""`pilotfish analyze -f FILES...`: istioctl analyze over files, with its output and exit codes.

`analyze_report(messages, output_threshold, failure_threshold)` is the pure core; the command
prints `Severity [CODE] (Kind name.namespace file:line) message` lines and returns 79 when a
message reaches the failure threshold (Error by default), else 0. `--use-mesh` (the running
local mesh) is not implemented yet.
"""

from __future__ import annotations

import sys

from pilotfish.config import load_paths
from pilotfish.config.analysis import SEVERITY_RANK, AnalysisMessage, analyze

ANALYZE_FAILED = 79
SEVERITIES = ("Info", "Warning", "Error")


def analyze_report(
    messages: list[AnalysisMessage], output_threshold: str, failure_threshold: str
) -> tuple[list[str], int]:
    shown = [m for m in messages if SEVERITY_RANK[m.severity] >= SEVERITY_RANK[output_threshold]]
    lines = [str(m) for m in shown]
    if not shown:
        lines.append("\u2714 No validation issues found when analyzing the given files.")
    failed = any(SEVERITY_RANK[m.severity] >= SEVERITY_RANK[failure_threshold] for m in messages)
    return lines, ANALYZE_FAILED if failed else 0


def analyze_command(
    paths: list[str],
    output_threshold: str = "Info",
    failure_threshold: str = "Error",
    use_mesh: bool = False,
) -> int:
    for value in (output_threshold, failure_threshold):
        if value not in SEVERITIES:
            print(f"error: threshold must be one of {', '.join(SEVERITIES)}", file=sys.stderr)
            return 2
    if use_mesh:
        print("error: --use-mesh is not supported yet", file=sys.stderr)
        return 2
    if not paths:
        print("error: no input: use -f FILE, DIR or -", file=sys.stderr)
        return 2
    lines, code = analyze_report(analyze(load_paths(paths)), output_threshold, failure_threshold)
    for line in lines:
        print(line)
    return code
