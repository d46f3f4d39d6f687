"""`pilotfish completion bash|zsh|fish|powershell`: the shell script that completes `pilotfish`
commands, as `istioctl completion SHELL` prints istioctl's (Istio's "Using the Istioctl
Command-line Tool": `source ~/istioctl.bash`, then `istioctl proxy-<TAB>` offers
`proxy-config proxy-status`).

The script asks the command itself for completions (typer's protocol: the `_PILOTFISH_COMPLETE`
variable), so it always offers the commands and options this version has; `enable` registers
typer's completion classes, which `main` does before running the app.
"""

from __future__ import annotations

import sys

SHELLS = ("bash", "zsh", "fish", "powershell")
PROG_NAME = "pilotfish"
COMPLETE_VAR = "_PILOTFISH_COMPLETE"


def enable() -> None:
    """Let the app answer the completion script's requests (typer registers its classes only
    for apps with its own `--install-completion`, which pilotfish leaves out, as istioctl)."""
    from typer._completion_classes import completion_init

    completion_init()


def completion_command(shell: str) -> int:
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        print(f"error: unsupported shell {shell!r}: one of {', '.join(SHELLS)}", file=sys.stderr)
        return 1
    script = get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell)
    print(script)
    return 0
