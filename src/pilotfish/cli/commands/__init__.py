"""The `pilotfish` subcommands' typer declarations (options, help), grouped by the tool they
follow: `mesh` (the local mesh), `kubectl`, `istioctl`. Importing a module registers its
commands on `pilotfish.cli.app.app`."""
