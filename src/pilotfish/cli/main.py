"""The `pilotfish` command: runs the typer app (`pilotfish.cli.app`) with every subcommand
registered (`pilotfish.cli.commands`); each subcommand's logic lives in its own module.

Every command returns an exit code; user mistakes raise `UserError`, printed here once as
`error: …`, never a traceback.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys

import typer
import typer.main

from pilotfish.cli.app import app
from pilotfish.cli.completion import COMPLETE_VAR, PROG_NAME, enable
from pilotfish.cli.errors import UserError
from pilotfish.cli.flag_values import with_bool_values

# importing each registers its commands on `app`, in the order `--help` lists them
for _group in ("mesh", "kubectl", "kubectl_rbac", "kubectl_ops", "istioctl", "diagnostics"):
    importlib.import_module(f"pilotfish.cli.commands.{_group}")


LOG_FLAGS = ("--log_output_level", "--log_target", "--log_caller", "--log_stacktrace_level",
             "--log_rotate", "--log_rotate_max_age", "--log_rotate_max_size",
             "--log_rotate_max_backups")  # fmt: skip
"""istioctl's global logging flags (Istio's "Component Logging": `istioctl analyze
--log_output_level klog:none,cli:info`), each with a value; `--log_as_json` has none. They set
the levels of istioctl's own diagnostic log, which pilotfish's commands do not write: accepted
anywhere on the line, as istioctl accepts them, and left out before the command is parsed."""


def istioctl_argv(argv: list[str]) -> list[str]:
    """The command line with istioctl's spellings typer would refuse made typer's: the logging
    flags above left out; `analyze -k`, a boolean flag where typer's string option would take
    the next word or refuse, as `--use-kube=true` when bare (last, or before another option).
    What follows `--` (`exec POD -- CMD …`) is left as it is."""
    cut = argv.index("--") if "--" in argv else len(argv)
    argv, rest = argv[:cut], argv[cut:]
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LOG_FLAGS:
            skip = True
        elif arg == "--log_as_json" or arg.split("=", 1)[0] in (*LOG_FLAGS, "--log_as_json"):
            pass
        else:
            kept.append(arg)
    if "analyze" in kept:
        kept = [
            "--use-kube=true"
            if arg in ("-k", "--use-kube") and (i + 1 == len(kept) or kept[i + 1].startswith("-"))
            else arg
            for i, arg in enumerate(kept)
        ]
    return kept + rest


ROOT_VALUED = ("--state-dir", "--namespace", "-n")
"""The root's options that take a value (`pilotfish.cli.app._root`), before the command."""


def command_name(argv: list[str]) -> str | None:
    """The subcommand `argv` names (`-n foo get pods` -> `get`); None when there is none, or
    when something before it is not one of the root's options (click says what is wrong)."""
    args = iter(argv)
    for arg in args:
        if arg in ROOT_VALUED:
            next(args, None)
        elif arg.startswith(tuple(f"{o}=" for o in ROOT_VALUED[:2])) or arg[:2] == "-n":
            continue  # `--state-dir=DIR`, `-nfoo`
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command (or group) `argv` runs: typer builds click's command of
    every registered function (its signature and type hints) before parsing: ~0.12 s of CPU
    for all of them, paid by every `kubectl`/`istioctl` line a page runs. The whole app
    when no command is named, for a name no command has (click's error and suggestions), and
    for shell completion."""
    name = command_name(argv)
    if name is None or COMPLETE_VAR in os.environ:
        return app
    commands = [
        c
        for c in app.registered_commands
        if c.callback is not None
        and (c.name or typer.main.get_command_name(c.callback.__name__)) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    narrowed = copy.copy(app)  # the same callback (root options), help and settings
    narrowed.registered_commands = commands
    narrowed.registered_groups = groups
    return narrowed


def main() -> None:
    argv = istioctl_argv(sys.argv[1:])
    sys.argv[1:] = with_bool_values(argv, lambda: typer.main.get_command(app))
    if COMPLETE_VAR in os.environ:  # the completion script asking (`pilotfish completion`)
        enable()
    try:  # under its own name however started (`python -m pilotfish` behind an istioctl shim)
        app_for(sys.argv[1:])(prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
    except KeyboardInterrupt:
        sys.exit(130)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    except Exception as exc:  # a bug, not a user mistake: say so in one line, no traceback
        if os.environ.get("PILOTFISH_DEBUG"):
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(
            "  (set PILOTFISH_DEBUG=1 to see the traceback, and please report it)", file=sys.stderr
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
