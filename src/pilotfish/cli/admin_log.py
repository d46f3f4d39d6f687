"""`pilotfish admin log` (istioctl's `admin log`, also `istiod log` and `admin l`): the control
plane's logging scopes and their levels, read from and set through its ControlZ port (9876,
`/scopej/`, as istioctl reaches it through a port-forward; here the control plane's own
address). No flag: istioctl's table (ACTIVE SCOPE, DESCRIPTION, LOG LEVEL, STACK TRACE LEVEL,
`-o json|yaml` too); `--level ads:debug,authorization:debug` and `--stack-trace-level` set
levels; `--reset` puts every scope back to info and no stack traces (`--log-reset`,
`--stack-trace-reset`: one of the two). Setting a level is a write: it is sent with the mesh
owner's token.
"""

from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.usage import table
from pilotfish.local.client import ApiError, call, owner_token
from pilotfish.local.network import CP_CONTROLZ_PORT

PAIR = re.compile(r"[\w\- ]+:(none|error|warn|info|debug)")
"""istioctl's `<scope>:<level>` (its pattern, here matched whole: `ads:verbose` is refused)."""
ISTIOD_PODS = ("istiod-0", "istiod")


@dataclass(frozen=True)
class LogOptions:
    pod: str | None = None
    level: str = ""
    stack_trace_level: str = ""
    reset: bool = False
    log_reset: bool = False
    stack_trace_reset: bool = False
    output: str = "short"
    ctrlz_port: int | None = None  # the mesh's (CP_CONTROLZ_PORT)


def pairs(text: str) -> list[tuple[str, str]]:
    """`ads:debug,ca:info` as (scope, level) pairs; UserError naming the pair that is wrong."""
    found = []
    for pair in text.split(","):
        if not PAIR.fullmatch(pair):
            raise UserError(
                f"pattern {pair} did not match: <scope>:<level>[,<scope>:<level>,...], "
                "<level> one of none, error, warn, info, debug"
            )
        scope, level = pair.split(":")
        found.append((scope, level))
    return found


def updates(options: LogOptions, scopes: list[str]) -> list[dict[str, str]]:
    """The PUTs istioctl sends for the flags: one `{name, output_level?, stack_trace_level?}`
    per scope and flag (`scopes`: every scope's name, for the resets)."""
    reset_logs = options.reset or options.log_reset
    reset_stacks = options.reset or options.stack_trace_reset
    if reset_logs or reset_stacks:
        return [
            {"name": name}
            | ({"output_level": "info"} if reset_logs else {})
            | ({"stack_trace_level": "none"} if reset_stacks else {})
            for name in scopes
        ]
    found = (
        [{"name": s, "output_level": lvl} for s, lvl in pairs(options.level)]
        if options.level
        else []
    )
    if options.stack_trace_level:
        found += [
            {"name": s, "stack_trace_level": lvl} for s, lvl in pairs(options.stack_trace_level)
        ]
    return found


def render(scopes: list[dict[str, Any]], output: str) -> str:
    """istioctl's listing: sorted by name; `short` is its table."""
    shown = [
        {"scope_name": s["name"], "log_level": s.get("output_level", ""),
         "stack_trace_level": s.get("stack_trace_level", ""),
         "description": s.get("description", "")}
        for s in sorted(scopes, key=lambda s: str(s["name"]))
    ]  # fmt: skip
    if output == "short":
        rows = [["ACTIVE SCOPE", "DESCRIPTION", "LOG LEVEL", "STACK TRACE LEVEL"]]
        rows += [[s["scope_name"], s["description"], s["log_level"], s["stack_trace_level"]]
                 for s in shown]  # fmt: skip
        return table(rows) + "\n"
    if output == "json":
        return json.dumps(shown, indent=2) + "\n"
    if output == "yaml":
        dumper, out = YAML(typ="safe", pure=True), io.StringIO()
        dumper.default_flow_style = False
        dumper.dump(shown, out)  # istioctl's yaml: its JSON's keys, sorted
        return out.getvalue()
    raise UserError(f'output format "{output}" not supported: one of json|yaml|short')


def controlz_address(info: dict[str, Any], port: int | None) -> str:
    """The control plane's ControlZ: its address (the API's), port 9876 unless `port`."""
    host = urlsplit(str(info["api"])).hostname
    return f"http://{host}:{port or CP_CONTROLZ_PORT}"


def admin_log_command(options: LogOptions, state_dir: Path) -> int:
    if options.pod is not None and options.pod.split(".")[0] not in ISTIOD_PODS:
        raise UserError(f'pods "{options.pod}" not found (the control plane is istiod-0)')
    if options.output not in ("short", "json", "yaml"):
        raise UserError(f'output format "{options.output}" not supported: one of json|yaml|short')
    if options.level and (options.reset or options.log_reset):
        raise UserError("--level cannot be combined with --reset, --log-reset")
    if options.stack_trace_level and (options.reset or options.stack_trace_reset):
        raise UserError("--stack-trace-level cannot be combined with --reset, --stack-trace-reset")
    info = running_mesh(state_dir)
    base = controlz_address(info, options.ctrlz_port)
    try:
        status, scopes = call(base, "GET", "/scopej/")
        if status != 200 or not isinstance(scopes, list):
            raise UserError(f"could not get all scopes: request not successful {status}")
        changes = updates(options, [str(s["name"]) for s in scopes])
        if not changes:
            sys.stdout.write(render(scopes, options.output))
            return 0
        token = owner_token(state_dir)
        for change in changes:
            name = change["name"]
            status, body = call(base, "PUT", f"/scopej/{name}", change, token=token)
            if status != 202:
                why = body.get("error") if isinstance(body, dict) else body
                raise UserError(f"failed updating Scope {name}: got status {status}: {why}")
    except ApiError as exc:
        raise UserError(f"could not reach ControlZ: {exc}") from None
    return 0
