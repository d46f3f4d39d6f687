"""istioctl's commands: `validate`, `analyze`, `proxy-status`, `proxy-config`, `describe`,
`x explain`, `x authz check`, `x workload entry configure`, `iptables` (istio-iptables),
`kube-inject`, `completion` (typer glue; each command's logic is its own module)."""

from __future__ import annotations

from typing import Annotated

import typer

from pilotfish.cli.app import Files, Namespace, app, exit_with, state

BOOLEANS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}
"""Go's strconv.ParseBool, for istioctl's `--flag=false` (lower-cased before the look-up)."""


@app.command("kube-inject")
def kube_inject(
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
) -> None:
    """Print the manifest with its pods marked injected (`sidecar.istio.io/status`; local mode
    starts sidecars when workloads are applied, in any namespace for these pods)."""
    from pilotfish.cli.kube_inject import kube_inject_command

    exit_with(kube_inject_command(filename or []))


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
    include_outbound: Annotated[str, typer.Option("--outbound-ports-include", "-q")] = "",
    annotation: Annotated[
        list[str] | None,
        typer.Option("--annotation", help="a pod's traffic.sidecar.istio.io/KEY=VALUE"),
    ] = None,
    netns: Annotated[str | None, typer.Option("--netns", help="network namespace name")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the rules")] = False,
) -> None:
    """Install Istio's capture rules (istio-iptables) in a network namespace (root)."""
    from pilotfish.cli.iptables_cmd import iptables_command

    exit_with(
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
            include_outbound=include_outbound,
            annotations=annotation or [],
            netns=netns,
            dry_run=dry_run,
        )
    )


@app.command()
def validate(
    filename: Files,
    strict: Annotated[bool, typer.Option("--strict", help="unknown fields are errors")] = False,
) -> None:
    """Validate Istio config files as `istioctl validate` does (exit 0 when all valid)."""
    from pilotfish.cli.validate import validate_command

    exit_with(validate_command(filename, strict))


@app.command()
def analyze(
    files: Annotated[list[str] | None, typer.Argument(help="files, directories or -")] = None,
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="analyze all namespaces")
    ] = False,
    namespace: Namespace = None,
    output: Annotated[str, typer.Option("--output", "-o", help="log, json or yaml")] = "log",
    output_threshold: Annotated[str, typer.Option("--output-threshold")] = "Info",
    failure_threshold: Annotated[str, typer.Option("--failure-threshold")] = "Error",
    suppress: Annotated[
        list[str] | None, typer.Option("--suppress", "-S", help='"CODE=Kind name.ns"')
    ] = None,
    use_kube: Annotated[
        str,
        typer.Option(
            "--use-kube",
            "-k",
            help="false: files only, their Pods/Services/Namespaces/Secrets ignored; "
            "-k: the files as applied to the running mesh",
        ),
    ] = "",
    use_mesh: Annotated[bool, typer.Option("--use-mesh", help="include the running mesh")] = False,
    list_analyzers: Annotated[bool, typer.Option("--list-analyzers", "-L")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-R", help="removed (always)")] = False,
    ignore_unknown: Annotated[bool, typer.Option("--ignore-unknown")] = False,
    color: Annotated[
        str, typer.Option("--color", help="accepted (=false); never colours")
    ] = "false",
    mesh_config_file: Annotated[
        str | None,
        typer.Option("--meshConfigFile", help="a MeshConfig YAML file to analyse with"),
    ] = None,
) -> None:
    """Analyse config as `istioctl analyze` does (IST codes; exit 79 past the threshold)."""
    from pilotfish.cli.analyze import AnalyzeOptions, run

    del color  # accepted as istioctl's; pilotfish never colours analyze output
    paths = [*(files or []), *(filename or [])]
    flag = use_kube.strip().lower() or "true"
    if flag not in BOOLEANS:  # `-k FILE`: istioctl's -k takes no value (typer's would)
        paths.insert(0, use_kube)
        flag = "true"
    if use_kube and BOOLEANS[flag] and not use_mesh:  # istioctl's cluster: the running mesh
        from pilotfish.cli.analyze_mesh import mesh_running

        use_mesh = mesh_running(state.state_dir)
    exit_with(
        run(
            AnalyzeOptions(
                paths=paths,
                output_threshold=output_threshold,
                failure_threshold=failure_threshold,
                use_mesh=use_mesh,
                state_dir=state.state_dir,
                recursive=recursive,
                mesh_config_file=mesh_config_file,
                all_namespaces=all_namespaces,
                namespace=namespace or state.namespace,
                output=output,
                suppress=suppress or [],
                use_kube=BOOLEANS[flag],
                list_analyzers=list_analyzers,
                ignore_unknown=ignore_unknown,
            )
        )
    )


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh, fish or powershell")],
) -> None:
    """Print the shell script that completes pilotfish's commands, as `istioctl completion`."""
    from pilotfish.cli.completion import completion_command

    exit_with(completion_command(shell))


@app.command("proxy-status")
def proxy_status(
    proxy: Annotated[str | None, typer.Argument()] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="json, yaml or table")] = "table",
    verbosity: Annotated[
        int, typer.Option("--verbosity", "-v", help="1: a column per xDS type, with its state")
    ] = 0,
    istio_namespace: Annotated[
        str, typer.Option("--istioNamespace", "-i", help="Istio system namespace")
    ] = "istio-system",
    revision: Annotated[str, typer.Option("--revision", "-r", help="control plane revision")] = "",
) -> None:
    """Show each proxy's xDS sync state: the types it subscribed to (`-v 1`: SYNCED, STALE,
    ERROR, NOT SENT per type); with PROXY, the diff of its config against the control plane's."""
    from pilotfish.cli.proxy_status import proxy_status_command

    control_plane = (istio_namespace, revision)
    found = namespace or state.namespace
    exit_with(proxy_status_command(proxy, state.state_dir, found, output, verbosity, control_plane))


app.command("ps", hidden=True, help="Alias of proxy-status.")(proxy_status)


@app.command("proxy-config")
def proxy_config(
    kind: Annotated[
        str,
        typer.Argument(
            help="cluster, listener, route, endpoint, secret, bootstrap, ecds, all, log,"
            " rootca-compare"
        ),
    ],
    proxy: Annotated[str, typer.Argument(help="instance (reviews-v2-0) or workload (reviews-v2)")],
    other: Annotated[str | None, typer.Argument(help="rootca-compare: the second pod")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or yaml")] = "table",
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    fqdn: Annotated[str, typer.Option(help="table filter: cluster's service FQDN")] = "",
    port: Annotated[str, typer.Option(help="table filter: port")] = "",
    subset: Annotated[str, typer.Option(help="table filter: cluster subset")] = "",
    direction: Annotated[str, typer.Option(help="table filter: inbound or outbound")] = "",
    name: Annotated[str, typer.Option(help="table filter: listener or route name")] = "",
    address: Annotated[str, typer.Option(help="table filter: listener address")] = "",
    type_: Annotated[
        str, typer.Option("--type", help="table filter: listener type (HTTP, TCP, HTTP+TCP)")
    ] = "",
    cluster: Annotated[str, typer.Option(help="table filter: endpoint's cluster")] = "",
    status: Annotated[str, typer.Option(help="table filter: endpoint's status")] = "",
    level: Annotated[str, typer.Option(help="log: [LOGGER:]LEVEL,… to set (e.g. rbac:debug)")] = "",
    reset: Annotated[
        bool, typer.Option("--reset", "-r", help="log: every logger back to warning")
    ] = False,
    with_headers: Annotated[
        bool, typer.Option("--with-headers", help="all: a header above each table")
    ] = False,
) -> None:
    """Show the config one Envoy holds, read from its admin API (`rootca-compare POD1 POD2`:
    whether two pods' Envoys trust the same root)."""
    if kind in ("rootca-compare", "rc"):
        from pilotfish.cli.rootca_compare import rootca_compare_command

        pods = [proxy, other] if other else [proxy]
        exit_with(rootca_compare_command(pods, namespace or state.namespace, state.state_dir))
    if other is not None:
        raise typer.BadParameter(f"unexpected extra argument {other!r}", param_hint="PROXY")
    from pilotfish.cli.proxy_config import proxy_config_command

    filters = dict(
        fqdn=fqdn, port=port, subset=subset, direction=direction, name=name, address=address,
        cluster=cluster, status=status, type=type_, level="warning" if reset else level,
        **{"with-headers": "true" if with_headers else ""},
    )  # fmt: skip
    exit_with(proxy_config_command(kind, proxy, output, state.state_dir, namespace, filters))


app.command("pc", hidden=True, help="Alias of proxy-config.")(proxy_config)


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="pod (po), service (svc) or node (no)")],
    name: Annotated[
        str | None, typer.Argument(help="instance, workload or service (or NAME.NAMESPACE)")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Show the rules that apply to a pod or service, as `istioctl x describe` does (and this
    machine, the mesh's one node, as `kubectl describe nodes`)."""
    if kind.lower() in ("no", "node", "nodes"):
        from pilotfish.cli.usage import describe_command as describe_node

        exit_with(describe_node(name, state.state_dir))
    if name is None:
        raise typer.BadParameter("a pod or service name is needed", param_hint="NAME")
    from pilotfish.cli.describe import describe_command

    exit_with(describe_command(kind, name, namespace or state.namespace, state.state_dir))


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

    exit_with(explain_command(pod, output, state.state_dir))


@experimental.command("envoy-stats")
def envoy_stats(
    pod: Annotated[str | None, typer.Argument(help="instance, workload, or NAME.NAMESPACE")] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="short|json|yaml|prom|prom-merged")
    ] = "short",
    kind: Annotated[str, typer.Option("--type", "-t", help="server|clusters")] = "server",
    selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Retrieves Envoy metrics in the specified pod, as `istioctl x envoy-stats` (alias `es`)."""
    from pilotfish.cli.envoy_stats import envoy_stats_command

    ns = namespace or state.namespace
    exit_with(envoy_stats_command(pod, output, kind, ns, selector, state.state_dir))


experimental.command("es", hidden=True)(envoy_stats)  # istioctl's alias


authz_app = typer.Typer(help="istioctl's `x authz`", no_args_is_help=True)


@authz_app.command("check")
def authz_check(
    pod: Annotated[str, typer.Argument(help="instance (httpbin-0), workload, or NAME.NAMESPACE")],
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """The AuthorizationPolicy rules the pod's Envoy enforces, from its config dump."""
    from pilotfish.cli.authz_check import authz_check_command

    exit_with(authz_check_command(pod, namespace or state.namespace, state.state_dir))


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

    exit_with(
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


@experimental.command("precheck")
def precheck() -> None:
    """Check that this machine can run a local mesh, as `istioctl x precheck` checks a cluster."""
    from pilotfish.cli.install_checks import precheck_command

    exit_with(precheck_command(state.state_dir))


app.command("precheck", help="Alias of x precheck (istioctl's newer spelling).")(precheck)


@app.command("verify-install")
def verify_install(
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", "-s", help="as install")] = None,
) -> None:
    """Check that the control plane and gateways run and are ready, as `istioctl
    verify-install` (with -f: those the IstioOperator installs)."""
    from pilotfish.cli.install_checks import verify_install_command

    exit_with(verify_install_command(filename or [], sets or [], state.state_dir))


app.add_typer(experimental, name="x")
app.add_typer(experimental, name="experimental", hidden=True)  # istioctl's long name of `x`
