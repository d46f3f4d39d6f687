"""`pilotfish completion SHELL` as Istio's "Using the Istioctl Command-line Tool" uses istioctl's:
the bash script, sourced in a real bash, completes `pilotfish proxy-<TAB>` to the two commands
the page shows, and options of a command; an unknown shell is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # where the venv installed the `pilotfish` script

COMPLETE = """\
source <(pilotfish completion bash)
COMP_WORDS=({words}); COMP_CWORD={cword}
_pilotfish_completion pilotfish
printf '%s\\n' "${{COMPREPLY[@]}}"
"""


def complete(words: str) -> list[str]:
    parts = words.split(" ")
    script = COMPLETE.format(words=words, cword=len(parts) - 1)
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return sorted(filter(None, result.stdout.splitlines()))


def test_bash_completes_the_pages_example() -> None:
    assert complete("pilotfish proxy-") == ["proxy-config", "proxy-status"]


def test_bash_completes_istioctl_typed_through_a_shim(tmp_path: Path) -> None:
    """The page's `istioctl proxy-<TAB>` where `istioctl` is a shim running `python -m
    pilotfish` (as the pages' tests and users stand it up): the script registers `istioctl`
    and the app answers though not started as `pilotfish` (before: no completion for
    `istioctl`, and the app printed its help)."""
    shim = tmp_path / "istioctl"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m pilotfish "$@"\n')
    shim.chmod(0o755)
    script = (
        "source <(istioctl completion bash)\ncomplete -p istioctl\n"
        "COMP_WORDS=(istioctl proxy-); COMP_CWORD=1\n_pilotfish_completion istioctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "complete -o default -F _pilotfish_completion istioctl"
    assert sorted(lines[1:]) == ["proxy-config", "proxy-status"], result.stdout


def test_zsh_asks_the_command_typed() -> None:
    result = subprocess.run(
        [BIN / "pilotfish", "completion", "zsh"], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith("#compdef pilotfish istioctl\n")
    assert "complete_zsh ${words[1]})" in result.stdout
    assert "compdef _pilotfish_completion pilotfish istioctl" in result.stdout


def test_bash_completes_a_commands_options() -> None:
    assert "--fqdn" in complete("pilotfish proxy-config --f")


@pytest.mark.parametrize("shell", ["zsh", "fish", "powershell"])
def test_every_shell_istioctl_offers_has_a_script(shell: str) -> None:
    result = subprocess.run(
        [BIN / "pilotfish", "completion", shell], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "_PILOTFISH_COMPLETE" in result.stdout, result.stderr


def test_an_unknown_shell_is_refused() -> None:
    result = subprocess.run(
        [BIN / "pilotfish", "completion", "tcsh"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == "error: unsupported shell 'tcsh': one of bash, zsh, fish, powershell\n"
