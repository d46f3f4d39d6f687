"""`pilotfish up`/`down`, `install`/`uninstall`, `rollout restart`, `agent` (pilot-agent),
`dashboard`, `version`: the local mesh's lifecycle, its parts and addons (typer glue; each
command's logic is its own module)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pilotfish.cli.app import app, exit_with, state


@app.command()
def up(
    directory: Annotated[
        str | None, typer.Argument(help="folder with a manifest and Istio config")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="return once ready; `pilotfish down` stops it")
    ] = False,
    ingress_address: Annotated[
        str, typer.Option(help="address the ingress gateway's servers bind")
    ] = "127.0.0.1",
    delta: Annotated[bool, typer.Option(help="Envoys use incremental (delta) xDS")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the mesh to be ready")] = 60.0,
    ingress_gateway: Annotated[
        bool, typer.Option("--ingress-gateway/--no-ingress-gateway", help="run the ingress gateway")
    ] = True,
    isolated: Annotated[
        bool,
        typer.Option(
            "--isolated", help="root: each pod in its own network namespace, traffic captured"
        ),
    ] = False,
    image_map: Annotated[
        str | None,
        typer.Option(
            help="your image map (container image -> local command), read before pilotfish's; "
            "default $PILOTFISH_IMAGE_MAP"
        ),
    ] = None,
) -> None:
    """Start the control plane, the ingress gateway and every workload of DIR with its sidecar."""
    from pilotfish.cli.up import up_command

    exit_with(
        up_command(
            directory,
            state.state_dir,
            ingress_address,
            detach,
            delta,
            timeout,
            ingress_gateway,
            isolated,
            image_map,
        )
    )


@app.command()
def install(
    filename: Annotated[
        list[str] | None, typer.Option("--filename", "-f", help="IstioOperator YAML")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="KEY=VALUE, e.g. profile=demo")
    ] = None,
    yes: Annotated[bool, typer.Option("--skip-confirmation", "-y", help="do not ask")] = False,
    kubernetes: Annotated[
        bool, typer.Option("--kubernetes", help="not yet in this version")
    ] = False,
    ingress_address: Annotated[
        str, typer.Option(help="address the ingress gateway's servers bind")
    ] = "127.0.0.1",
    timeout: Annotated[float, typer.Option(help="seconds to wait for the mesh to be ready")] = 60.0,
) -> None:
    """Install an Istio profile (default, demo, minimal, empty) as a local mesh, detached."""
    from pilotfish.cli.install import install_command

    exit_with(
        install_command(
            filename or [], set_ or [], yes, kubernetes, state.state_dir, ingress_address, timeout
        )
    )


@app.command()
def uninstall(
    purge: Annotated[bool, typer.Option("--purge", help="every revision: the one here")] = False,
    yes: Annotated[bool, typer.Option("--skip-confirmation", "-y", help="do not ask")] = False,
    revision: Annotated[str, typer.Option("--revision", "-r", help="only `default`")] = "default",
) -> None:
    """Stop what `pilotfish install` started (as `pilotfish down`), after istioctl's warning
    and question (`-y`: the warning only)."""
    from pilotfish.cli.confirm import cancelled, uninstall_confirmed
    from pilotfish.cli.up import down_command
    from pilotfish.local.client import MeshNotRunning, read_mesh

    if revision != "default" and not purge:  # istioctl finds nothing of that revision
        print(
            "No resources will be pruned from the cluster. Please double check the input configs\n"
        )
        exit_with(0)
    try:
        proxies = sorted(read_mesh(state.state_dir).get("proxies") or {})
    except MeshNotRunning:
        proxies = []
    if not uninstall_confirmed(purge, proxies, yes, revision):
        exit_with(cancelled())
    exit_with(down_command(state.state_dir))


@app.command()
def down() -> None:
    """Stop a mesh started with `pilotfish up --detach`."""
    from pilotfish.cli.up import down_command

    exit_with(down_command(state.state_dir))


rollout = typer.Typer(help="Manage the rollout of a deployment, as kubectl rollout.")
app.add_typer(rollout, name="rollout")


@rollout.command("restart")
def rollout_restart(
    targets: Annotated[
        list[str], typer.Argument(help="deployment/NAME…, deployment NAME…, or deployment (all)")
    ],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each deployment")] = 60.0,
) -> None:
    """Replace a deployment's pods, as `kubectl rollout restart` (a gateway's: new Envoy first,
    then the old one drains, no request lost)."""
    from pilotfish.cli.restart import restart_command

    exit_with(restart_command(targets, namespace or state.namespace, state.state_dir, timeout))


@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
def agent(ctx: typer.Context) -> None:
    """Run one pod's pilot-agent (Envoy, certificates, health, metrics, drain): Istio's
    `pilot-agent proxy sidecar`, configured by its flags and environment (see --help)."""
    from pilotfish.cli.agent_cmd import agent_command

    exit_with(agent_command(list(ctx.args), sys.argv))


@app.command()
def dashboard(
    kind: Annotated[
        str,
        typer.Argument(
            help="envoy, controlz, prometheus, or a UI view: kiali, grafana, jaeger, zipkin, mesh"
        ),
    ],
    proxy: Annotated[str | None, typer.Argument(help="for envoy: instance or workload")] = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="open a browser")] = True,
    scrape_interval: Annotated[
        str, typer.Option(help="prometheus: scrape and rule evaluation interval")
    ] = "15s",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    ctrlz_port: Annotated[
        int | None, typer.Option("--ctrlz_port", help="controlz: its port [default: 9876]")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="forward from this address (istioctl's port-forward), until Ctrl-C"),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="forward from this local port (0: any)")
    ] = None,
) -> None:
    """Open a proxy's Envoy admin UI, the control plane's ControlZ, the mesh's Prometheus
    (started on first use) or a view of the web UI."""
    from pilotfish.cli.dashboard import dashboard_command

    exit_with(
        dashboard_command(
            kind,
            proxy,
            browser,
            state.state_dir,
            scrape_interval,
            namespace or state.namespace,
            ctrlz_port,
            address,
            port,
        )
    )


@app.command()
def version(
    output: Annotated[str, typer.Option("--output", "-o", help="json or yaml")] = "",
    short: Annotated[
        bool, typer.Option("--short", "-s", help="accepted as istioctl's: the default form")
    ] = True,
) -> None:
    """Print the client, control plane and data plane versions."""
    from pilotfish.cli.version import version_command

    exit_with(version_command(state.state_dir, output))
