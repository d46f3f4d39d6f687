"""`pilotfish completion bash|zsh|fish|powershell`: the shell script that completes `pilotfish`
commands, as `istioctl completion SHELL` prints istioctl's (Istio's "Using the Istioctl
Command-line Tool": `source ~/istioctl.bash`, then `istioctl proxy-<TAB>` offers
`proxy-config proxy-status`).

The script asks the command itself for completions (typer's protocol: the `_PILOTFISH_COMPLETE`
variable), so it always offers the commands and options this version has; `enable` registers
typer's completion classes, which `main` does before running the app. The script completes
`istioctl` as well as `pilotfish` (the name Istio's pages type, a shim or alias standing for
pilotfish), and asks whichever of the two was typed; the app answers under either name, as it
takes its program name and completion variable from here, not from how it was started
(`python -m pilotfish` behind an `istioctl` shim).
"""

from __future__ import annotations

import re
import sys

SHELLS = ("bash", "zsh", "fish", "powershell")
PROG_NAME = "pilotfish"
COMPLETE_VAR = "_PILOTFISH_COMPLETE"
ALSO_COMPLETED = "istioctl"


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
    print(_also_for_istioctl(script, shell))
    return 0


def _also_for_istioctl(script: str, shell: str) -> str:
    """typer's script, registered for `istioctl` too; bash and zsh ask the command typed."""
    if shell in ("bash", "zsh"):  # `complete … pilotfish`, `#compdef pilotfish`, `compdef …`
        script = script.replace(f"complete_zsh {PROG_NAME})", "complete_zsh ${words[1]})")
        return re.sub(
            f"^((?:#?compdef|complete)(?: .*)? {PROG_NAME})$",
            rf"\1 {ALSO_COMPLETED}",
            script,
            flags=re.M,
        )
    last = script.rstrip("\n").rsplit("\n", 1)[-1]
    register = last.replace(f"--command {PROG_NAME} ", f"--command {ALSO_COMPLETED} ")
    register = register.replace(f"-CommandName {PROG_NAME} ", f"-CommandName {ALSO_COMPLETED} ")
    return script.rstrip("\n") + "\n" + register + "\n"
