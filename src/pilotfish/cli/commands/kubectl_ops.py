"""kubectl's waiting, scaling and reaching commands on a local mesh: `wait`, `rollout status`,
`scale`, `port-forward`, and `replace -f` (typer glue; the logic is in `kube_wait`,
`port_forward` and `create_files`)."""

from __future__ import annotations

from typing import Annotated

import typer

from pilotfish.cli.app import app, exit_with, state
from pilotfish.cli.commands.mesh import rollout


@app.command()
def wait(
    resources: Annotated[list[str], typer.Argument(help="pod/NAME…, pods NAME…, deployment …")],
    for_: Annotated[
        str, typer.Option("--for", help="condition=Ready (pods), condition=Available, delete")
    ],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="labels key=value[,…]")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="every one of that type")] = False,
    timeout: Annotated[str, typer.Option(help="how long, as kubectl: 30s, 5m")] = "30s",
) -> None:
    """Wait until pods are Ready or deployments Available (or gone), as `kubectl wait`."""
    from pilotfish.cli.errors import UserError
    from pilotfish.cli.kube_wait import parse_duration, wait_command
    from pilotfish.cli.selectors import Selector, parse_selector

    labels = parse_selector(selector) if selector is not None else Selector()
    if labels is None:
        raise UserError(f"-l {selector!r}: expected key=value[,key=value]")
    seconds = parse_duration(timeout)
    ns = namespace or state.namespace
    exit_with(wait_command(resources, for_, ns, labels, every, seconds, state.state_dir))


@rollout.command("status")
def rollout_status(
    target: Annotated[list[str], typer.Argument(help="deployment/NAME or deployment NAME")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    timeout: Annotated[str, typer.Option(help="give up after (0: never), as kubectl")] = "0s",
    watch: Annotated[bool, typer.Option("--watch/--no-watch", "-w", help="until done")] = True,
) -> None:
    """Wait until every replica of a deployment runs and is ready, as `kubectl rollout status`."""
    from pilotfish.cli.kube_wait import parse_duration, rollout_status_command

    ns = namespace or state.namespace
    one = "/".join(target) if len(target) == 2 and "/" not in target[0] else " ".join(target)
    exit_with(rollout_status_command(one, ns, parse_duration(timeout), watch, state.state_dir))


@app.command("port-forward")
def port_forward(
    target: Annotated[str, typer.Argument(help="pod NAME, pod/NAME, deploy/NAME or svc/NAME")],
    ports: Annotated[list[str], typer.Argument(help="[LOCAL:]REMOTE… (`:REMOTE`: any free port)")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    address: Annotated[
        str, typer.Option("--address", help="local address to listen on")
    ] = "localhost",
) -> None:
    """Forward local ports to a pod's own ports (its app, or Istio's 15000, 15021, 15090), as
    `kubectl port-forward`; runs until Ctrl-C."""
    from pilotfish.cli.port_forward import port_forward_command

    ns = namespace or state.namespace
    exit_with(port_forward_command(target, ports, ns, address, state.state_dir))


@app.command()
def scale(
    target: Annotated[list[str], typer.Argument(help="deploy/NAME, or deployment NAME")],
    replicas: Annotated[int, typer.Option("--replicas", help="how many pods")] = -1,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the pods")] = 60.0,
) -> None:
    """Set how many pods a deployment runs, as `kubectl scale`; returns once they run and
    every proxy has their endpoints (or once the removed ones are gone)."""
    from pilotfish.cli.kube_wait import scale_command

    ns = namespace or state.namespace
    exit_with(scale_command(target, replicas, ns, state.state_dir, timeout))


@app.command()
def replace(
    filename: Annotated[
        list[str], typer.Option("--filename", "-f", help="file, directory or - for stdin")
    ],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the proxies")] = 10.0,
) -> None:
    """Replace existing objects from files, as `kubectl replace -f` (a stale `resourceVersion`
    in a file is the API server's Conflict)."""
    from pilotfish.cli.create_files import replace_files_command

    ns = namespace or state.namespace
    exit_with(replace_files_command(filename, state.state_dir, ns, timeout))
