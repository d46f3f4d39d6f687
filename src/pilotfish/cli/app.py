"""The `pilotfish` typer app and what every subcommand shares: the global options (state
directory, `-n`), option types, and the exit helper.

Global option `--state-dir` (else $PILOTFISH_HOME, else ~/.pilotfish) says which local mesh to
talk to. The commands are declared in `pilotfish.cli.commands`; `pilotfish.cli.main` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pilotfish.local.client import default_state_dir

app = typer.Typer(
    name="pilotfish",
    help="A service mesh that speaks Istio's APIs: Python control plane, real Envoy sidecars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="mesh state directory [env PILOTFISH_HOME, default ~/.pilotfish]"
    ),
]
Files = Annotated[
    list[str], typer.Option("--filename", "-f", help="file, directory or - for stdin")
]


class _State:
    state_dir: Path = Path(".")
    create_namespace: str | None = None
    namespace: str | None = None  # `pilotfish -n NS get …`, kubectl's order


state = _State()


Namespace = Annotated[str | None, typer.Option("--namespace", "-n")]


@app.callback()
def _root(
    state_dir: StateDir = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="as kubectl: `-n NS get …`")
    ] = None,
) -> None:
    state.state_dir = (state_dir or default_state_dir()).expanduser().absolute()
    state.namespace = namespace


def exit_with(code: int) -> None:
    raise typer.Exit(code)
