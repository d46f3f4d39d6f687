"""The `pilotfish` command: one typer app; each subcommand's logic lives in its own module.

Global option `--state-dir` (else $PILOTFISH_HOME, else ~/.pilotfish) says which local mesh to
talk to. Every command returns an exit code; user mistakes raise `UserError`, printed here once
as `error: …`, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pilotfish.cli.errors import UserError
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


@app.callback()
def _root(
    state_dir: StateDir = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="as kubectl: `-n NS get …`")
    ] = None,
) -> None:
    state.state_dir = (state_dir or default_state_dir()).expanduser().absolute()
    state.namespace = namespace


def _exit(code: int) -> None:
    raise typer.Exit(code)


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

    _exit(
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

    _exit(
        install_command(
            filename or [], set_ or [], yes, kubernetes, state.state_dir, ingress_address, timeout
        )
    )


@app.command()
def uninstall(
    purge: Annotated[bool, typer.Option("--purge", help="accepted, as istioctl")] = False,
    yes: Annotated[bool, typer.Option("--skip-confirmation", "-y")] = False,
) -> None:
    """Stop what `pilotfish install` started (as `pilotfish down`)."""
    from pilotfish.cli.up import down_command

    _exit(down_command(state.state_dir))


@app.command("kube-inject")
def kube_inject(
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
) -> None:
    """Inject sidecars into Kubernetes manifests (not yet in this version)."""
    print(
        "error: kube-inject: not yet in this version: pilotfish runs meshes locally; "
        "in local mode every Workload gets its sidecar from `pilotfish apply -f`",
        file=sys.stderr,
    )
    _exit(1)


@app.command()
def down() -> None:
    """Stop a mesh started with `pilotfish up --detach`."""
    from pilotfish.cli.up import down_command

    _exit(down_command(state.state_dir))


rollout = typer.Typer(help="Manage the rollout of a deployment, as kubectl rollout.")
app.add_typer(rollout, name="rollout")


@rollout.command("restart")
def rollout_restart(
    target: Annotated[
        str, typer.Argument(help="deployment/NAME (the gateway's: istio-ingressgateway)")
    ],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each pod")] = 60.0,
) -> None:
    """Restart a gateway's pods without losing a request (new Envoy first, then the old drains)."""
    from pilotfish.cli.restart import restart_command

    _exit(restart_command(target, namespace or state.namespace, state.state_dir, timeout))


@app.command()
def apply(
    filename: Files,
    recursive: Annotated[bool, typer.Option("--recursive", "-R")] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="wait for every affected proxy to ACK")
    ] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for ACKs")] = 10.0,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="for objects that name none")
    ] = None,
) -> None:
    """Apply Istio config or manifest objects to the running mesh (all or nothing)."""
    from pilotfish.cli.apply import apply_command

    _exit(apply_command(filename, state.state_dir, recursive, wait, timeout, namespace))


@app.command()
def delete(
    kind: Annotated[str | None, typer.Argument()] = None,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    timeout: Annotated[float, typer.Option()] = 10.0,
) -> None:
    """Delete config: `delete -f FILE` or `delete KIND NAME…`."""
    from pilotfish.cli.apply import delete_command

    _exit(
        delete_command(filename or [], kind, names or [], namespace, state.state_dir, wait, timeout)
    )


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="vs, dr, gw, se, … or the full kind name")],
    name: Annotated[str | None, typer.Argument()] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml, json, or a table")] = "table",
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="every namespace (the default)")
    ] = False,
) -> None:
    """List config held by the running mesh (KIND may be a list: vs,dr), or its pods, services
    and deployments as kubectl shows them (`get pods -n istio-system`, `get svc`, `get all`)."""
    from pilotfish.cli.kube_get import VIEW_KINDS

    namespace = namespace or state.namespace
    if kind.lower() in VIEW_KINDS:
        from pilotfish.cli.kube_get import view_command

        ns = None if all_namespaces else (namespace or "")
        _exit(view_command(kind, name, ns, output, state.state_dir))
    from pilotfish.cli.get import get_command

    _exit(get_command(kind, name, None if all_namespaces else namespace, output, state.state_dir))


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    pod: Annotated[
        str, typer.Argument(help="pod (sleep-0, sleep.foo, deploy/sleep) as kubectl names it")
    ],
    command: Annotated[list[str] | None, typer.Argument(help="-- CMD [ARGS…]")] = None,
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="istio-proxy or the app (default)")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    stdin: Annotated[
        bool, typer.Option("--stdin", "-i", help="accepted (stdin is passed)")
    ] = False,
    tty: Annotated[
        bool, typer.Option("--tty", "-t", help="accepted (the terminal is kept)")
    ] = False,
) -> None:
    """Run a command as if inside POD: its HTTP goes out through that pod's sidecar."""
    from pilotfish.cli.exec_cmd import exec_command

    _exit(exec_command(pod, command or [], state.state_dir, container, namespace))


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

    _exit(agent_command(list(ctx.args), sys.argv))


@app.command()
def iptables(
    proxy_port: Annotated[int, typer.Option("--envoy-port", "-p")] = 15001,
    inbound_port: Annotated[int, typer.Option("--inbound-capture-port", "-z")] = 15006,
    uid: Annotated[int, typer.Option("--proxy-uid", "-u")] = 1337,
    gid: Annotated[int, typer.Option("--proxy-gid", "-g")] = 1337,
    include_ips: Annotated[str, typer.Option("--outbound-ip-ranges-include", "-i")] = "*",
    exclude_ips: Annotated[str, typer.Option("--outbound-ip-ranges-exclude", "-x")] = "",
    include_inbound: Annotated[str, typer.Option("--inbound-ports-include", "-b")] = "*",
    exclude_inbound: Annotated[
        str, typer.Option("--local-exclude-ports", "-d")
    ] = "15090,15021,15020",
    exclude_outbound: Annotated[str, typer.Option("--outbound-ports-exclude", "-o")] = "",
    annotation: Annotated[
        list[str] | None,
        typer.Option("--annotation", help="a pod's traffic.sidecar.istio.io/KEY=VALUE"),
    ] = None,
    netns: Annotated[str | None, typer.Option("--netns", help="network namespace name")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the rules")] = False,
) -> None:
    """Install Istio's capture rules (istio-iptables) in a network namespace (root)."""
    from pilotfish.cli.iptables_cmd import iptables_command

    _exit(
        iptables_command(
            proxy_port=proxy_port,
            inbound_capture_port=inbound_port,
            proxy_uid=uid,
            proxy_gid=gid,
            include_ips=include_ips,
            exclude_ips=exclude_ips,
            include_inbound=include_inbound,
            exclude_inbound=exclude_inbound,
            exclude_outbound=exclude_outbound,
            annotations=annotation or [],
            netns=netns,
            dry_run=dry_run,
        )
    )


@app.command()
def logs(
    pod: Annotated[
        str | None, typer.Argument(help="pod (httpbin-v2-0, httpbin-v2, NAME.NS, deploy/NAME)")
    ] = None,
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="the app (default) or istio-proxy")
    ] = None,
    tail: Annotated[int, typer.Option("--tail", help="last N lines (-1: all)")] = -1,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="pods with labels key=value[,…]")
    ] = None,
) -> None:
    """Print a pod's app log, or its Envoy's (`-c istio-proxy`), as `kubectl logs`."""
    from pilotfish.cli.logs import logs_command

    _exit(logs_command(pod, container, tail, namespace, state.state_dir, selector))


@app.command()
def validate(
    filename: Files,
    strict: Annotated[bool, typer.Option("--strict", help="unknown fields are errors")] = False,
) -> None:
    """Validate Istio config files as `istioctl validate` does (exit 0 when all valid)."""
    from pilotfish.cli.validate import validate_command

    _exit(validate_command(filename, strict))


@app.command()
def analyze(
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    output_threshold: Annotated[str, typer.Option("--output-threshold")] = "Info",
    failure_threshold: Annotated[str, typer.Option("--failure-threshold")] = "Error",
    use_mesh: Annotated[bool, typer.Option("--use-mesh", help="include the running mesh")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-R", help="into subfolders")] = False,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="accepted; every namespace is analysed")
    ] = False,
    mesh_config_file: Annotated[
        str | None,
        typer.Option("--meshConfigFile", help="a MeshConfig YAML file to analyse with"),
    ] = None,
) -> None:
    """Analyse config as `istioctl analyze` does (IST codes; exit 79 past the threshold)."""
    from pilotfish.cli.analyze import analyze_command

    _exit(
        analyze_command(
            filename or [],
            output_threshold,
            failure_threshold,
            use_mesh,
            state.state_dir,
            recursive,
            mesh_config_file,
        )
    )


@app.command("proxy-status")
def proxy_status(
    proxy: Annotated[str | None, typer.Argument()] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Show each proxy's xDS sync state (SYNCED, STALE, NACKED, NOT SENT)."""
    from pilotfish.cli.proxy_status import proxy_status_command

    _exit(proxy_status_command(proxy, state.state_dir, namespace))


app.command("ps", hidden=True, help="Alias of proxy-status.")(proxy_status)


@app.command("proxy-config")
def proxy_config(
    kind: Annotated[
        str, typer.Argument(help="cluster, listener, route, endpoint, secret, bootstrap, all")
    ],
    proxy: Annotated[str, typer.Argument(help="instance (reviews-v2-0) or workload (reviews-v2)")],
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or yaml")] = "table",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    fqdn: Annotated[str, typer.Option(help="table filter: cluster's service FQDN")] = "",
    port: Annotated[str, typer.Option(help="table filter: port")] = "",
    subset: Annotated[str, typer.Option(help="table filter: cluster subset")] = "",
    direction: Annotated[str, typer.Option(help="table filter: inbound or outbound")] = "",
    name: Annotated[str, typer.Option(help="table filter: listener or route name")] = "",
    address: Annotated[str, typer.Option(help="table filter: listener address")] = "",
    cluster: Annotated[str, typer.Option(help="table filter: endpoint's cluster")] = "",
) -> None:
    """Show the config one Envoy holds, read from its admin API."""
    from pilotfish.cli.proxy_config import proxy_config_command

    filters = dict(
        fqdn=fqdn, port=port, subset=subset, direction=direction, name=name, address=address,
        cluster=cluster,
    )  # fmt: skip
    _exit(proxy_config_command(kind, proxy, output, state.state_dir, namespace, filters))


app.command("pc", hidden=True, help="Alias of proxy-config.")(proxy_config)


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="pod (po) or service (svc)")],
    name: Annotated[str, typer.Argument(help="instance, workload or service (or NAME.NAMESPACE)")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Show the rules that apply to a pod or service, as `istioctl x describe` does."""
    from pilotfish.cli.describe import describe_command

    _exit(describe_command(kind, name, namespace, state.state_dir))


create_app = typer.Typer(help="kubectl's `create secret tls|generic`", no_args_is_help=True)
create_secret = typer.Typer(help="a v1 Secret (a gateway's credentialName)", no_args_is_help=True)
create_app.add_typer(create_secret, name="secret")
app.add_typer(create_app, name="create")
Namespace = Annotated[str | None, typer.Option("--namespace", "-n")]


@create_app.callback()
def _create_root(namespace: Namespace = None) -> None:
    """kubectl accepts `create -n NS secret …` as well as `create secret … -n NS`."""
    state.create_namespace = namespace


@create_secret.command("tls")
def create_secret_tls(
    name: Annotated[str, typer.Argument()],
    cert: Annotated[str, typer.Option("--cert", help="PEM certificate (chain) file")],
    key: Annotated[str, typer.Option("--key", help="PEM private key file")],
    namespace: Namespace = None,
) -> None:
    """A TLS secret (tls.crt, tls.key), as `kubectl create secret tls`."""
    from pilotfish.cli.create import run_create

    ns = namespace or state.create_namespace
    _exit(run_create(name, ns, "kubernetes.io/tls", state.state_dir, cert=cert, key=key))


@create_secret.command("generic")
def create_secret_generic(
    name: Annotated[str, typer.Argument()],
    from_file: Annotated[
        list[str] | None, typer.Option("--from-file", help="KEY=PATH or PATH, repeatable")
    ] = None,
    namespace: Namespace = None,
) -> None:
    """A secret from files (e.g. tls.crt, tls.key, ca.crt), as `kubectl create secret generic`."""
    from pilotfish.cli.create import run_create

    ns = namespace or state.create_namespace
    _exit(run_create(name, ns, "Opaque", state.state_dir, from_file=from_file))


experimental = typer.Typer(help="istioctl's `x` (experimental) spellings", no_args_is_help=True)
experimental.command("describe")(describe)
experimental.command("proxy-status", help="Alias of proxy-status (istioctl's older spelling).")(
    proxy_status
)


@experimental.command("explain")
def explain(
    pod: Annotated[str, typer.Argument(help="instance (reviews-v1-0) or workload (reviews-v1)")],
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
) -> None:
    """Why did requests fail? The pod's recent failed requests, explained (beyond istioctl)."""
    from pilotfish.cli.explain import explain_command

    _exit(explain_command(pod, output, state.state_dir))


authz_app = typer.Typer(help="istioctl's `x authz`", no_args_is_help=True)


@authz_app.command("check")
def authz_check(
    pod: Annotated[str, typer.Argument(help="instance (httpbin-0), workload, or NAME.NAMESPACE")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """The AuthorizationPolicy rules the pod's Envoy enforces, from its config dump."""
    from pilotfish.cli.authz_check import authz_check_command

    _exit(authz_check_command(pod, namespace, state.state_dir))


experimental.add_typer(authz_app, name="authz")
workload_app = typer.Typer(help="istioctl's `x workload`", no_args_is_help=True)
entry_app = typer.Typer(help="istioctl's `x workload entry`", no_args_is_help=True)


@entry_app.command("configure")
def workload_entry_configure(
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="the WorkloadGroup file (else --name)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="WorkloadGroup in the mesh")] = None,
    namespace: Namespace = None,
    output: Annotated[str, typer.Option("--output", "-o", help="folder for the files")] = "",
    cluster_id: Annotated[str, typer.Option("--clusterID", help="cluster id")] = "Kubernetes",
    token_duration: Annotated[
        int, typer.Option("--tokenDuration", help="token lifetime, seconds")
    ] = 3600,
    ingress_ip: Annotated[
        str | None,
        typer.Option("--ingressIP", help="address the host reaches the control plane at"),
    ] = None,
    autoregister: Annotated[
        bool, typer.Option("--autoregister", help="a WorkloadEntry is created on connect")
    ] = False,
    capture_dns: Annotated[
        bool, typer.Option("--capture-dns/--no-capture-dns", help="ISTIO_META_DNS_CAPTURE")
    ] = True,
    internal_ip: Annotated[
        str | None, typer.Option("--internalIP", help="internal IP of the workload")
    ] = None,
    external_ip: Annotated[
        str | None, typer.Option("--externalIP", help="external IP of the workload")
    ] = None,
) -> None:
    """Write cluster.env, mesh.yaml, root-cert.pem, istio-token and hosts for a WorkloadGroup."""
    from pilotfish.cli.workload_entry import configure_command

    _exit(
        configure_command(
            state.state_dir,
            file=file,
            name=name,
            namespace=namespace or state.namespace,
            output=output,
            cluster_id=cluster_id,
            token_duration=token_duration,
            ingress_ip=ingress_ip,
            autoregister=autoregister,
            capture_dns=capture_dns,
            internal_ip=internal_ip,
            external_ip=external_ip,
        )
    )


workload_app.add_typer(entry_app, name="entry")
experimental.add_typer(workload_app, name="workload")
app.add_typer(experimental, name="x")


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
) -> None:
    """Open a proxy's Envoy admin UI, the mesh's Prometheus (started on first use), or list the
    control plane's debug endpoints."""
    from pilotfish.cli.dashboard import dashboard_command

    _exit(dashboard_command(kind, proxy, browser, state.state_dir, scrape_interval, namespace))


@app.command()
def version() -> None:
    """Print the client, control plane and data plane versions."""
    from pilotfish.cli.version import version_command

    _exit(version_command(state.state_dir))


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
