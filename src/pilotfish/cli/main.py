"""The `pilotfish` command: runs the typer app (`pilotfish.cli.app`) with every subcommand
registered (`pilotfish.cli.commands`); each subcommand's logic lives in its own module.

Every command returns an exit code; user mistakes raise `UserError`, printed here once as
`error: …`, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from pilotfish.cli.app import app
from pilotfish.cli.errors import UserError

# importing each registers its commands on `app`, in the order `--help` lists them
for _group in ("mesh", "kubectl", "kubectl_ops", "istioctl"):
    importlib.import_module(f"pilotfish.cli.commands.{_group}")


def main() -> None:
    try:
        app()
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
