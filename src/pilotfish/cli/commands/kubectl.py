"""kubectl's habits on a local mesh: `apply`, `delete`, `get`, `exec`, `logs`, `top`, `label`,
`annotate`, `create secret|configmap|namespace` (typer glue; each command's logic is its own
module)."""

from __future__ import annotations

from typing import Annotated

import typer

from pilotfish.cli.app import Namespace, app, exit_with, state


@app.command()
def apply(
    filename: Annotated[
        list[str] | None, typer.Option("--filename", "-f", help="file, directory or - for stdin")
    ] = None,
    kustomize: Annotated[
        list[str] | None, typer.Option("--kustomize", "-k", help="a kustomization directory")
    ] = None,
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

    paths = (filename or [], kustomize or [])
    namespace = namespace or state.namespace  # kubectl's `-n NS apply -f …` too
    exit_with(apply_command(paths, state.state_dir, recursive, wait, timeout, namespace))


@app.command()
def delete(
    kind: Annotated[str | None, typer.Argument()] = None,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    filename: Annotated[list[str] | None, typer.Option("--filename", "-f")] = None,
    kustomize: Annotated[list[str] | None, typer.Option("--kustomize", "-k")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    timeout: Annotated[float, typer.Option()] = 10.0,
    ignore_not_found: Annotated[
        bool, typer.Option("--ignore-not-found", help="names not found are not an error")
    ] = False,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="pods: labels key=value[,…]")
    ] = None,
) -> None:
    """Delete config: `delete -f FILE`, `delete -k DIR`, `delete KIND NAME…` or `delete
    TYPE/NAME…` (`delete namespace NAME` deletes everything in it); `delete pod NAME|-l …`
    replaces a deployment's pods, as its ReplicaSet does."""
    from pilotfish.cli.apply import delete_command
    from pilotfish.cli.kube_delete import delete_targets

    paths = (filename or [], kustomize or [])
    namespace = namespace or state.namespace
    sent: list[bool] = []

    def one(kind: str | None, names: list[str]) -> int:
        files = ([], []) if sent else paths  # the files go with the first group only
        sent.append(True)
        return delete_command(
            files, kind, names, namespace, state.state_dir, wait, timeout, ignore_not_found
        )

    def stored(kind: str | None, names: list[str]) -> int:
        return delete_targets(kind, names, namespace, state.state_dir, ignore_not_found, one)

    pods = _pod_names(kind, names or [])
    if pods is not None and not paths[0] and not paths[1]:
        from pilotfish.cli.restart import delete_pods
        from pilotfish.cli.selectors import parse_selector

        labels = parse_selector(selector) if selector is not None else None
        if selector is not None and labels is None:
            typer.echo(f"error: -l {selector!r}: expected key=value[,key=value]", err=True)
            exit_with(1)
        exit_with(delete_pods(pods, labels, namespace, state.state_dir, stored))
    if selector is not None:
        typer.echo("error: delete -l selects pods here: `delete pod -l key=value`", err=True)
        exit_with(1)
    exit_with(stored(kind, names or []))


def _pod_names(kind: str | None, names: list[str]) -> list[str] | None:
    """The pod names of `delete pod A B` / `delete pod/A pod/B`; None for other kinds."""
    from pilotfish.cli.kube_get import POD_KINDS

    if kind is None:
        return None
    if "/" in kind:
        pairs = [arg.partition("/") for arg in [kind, *names]]
        if all(t.lower() in POD_KINDS and n for t, _, n in pairs):
            return [n for _, _, n in pairs]
        return None
    return list(names) if kind.lower() in POD_KINDS else None


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="vs, dr, gw, se, … or the full kind name")],
    names: Annotated[list[str] | None, typer.Argument(help="NAME… (in the order given)")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml, json, or a table")] = "table",
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="every namespace")
    ] = False,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="labels key=value[,…]")
    ] = None,
    show_labels: Annotated[
        bool, typer.Option("--show-labels", help="a LABELS column (pods, svc, ns, …)")
    ] = False,
    label_columns: Annotated[
        list[str] | None, typer.Option("--label-columns", "-L", help="a column per label key")
    ] = None,
    no_headers: Annotated[
        bool, typer.Option("--no-headers", help="tables without their header")
    ] = False,
    field_selector: Annotated[
        str | None,
        typer.Option("--field-selector", help="status.phase=Running, metadata.name!=x, …"),
    ] = None,
    sort_by: Annotated[
        str | None, typer.Option("--sort-by", help="a JSONPath: .metadata.creationTimestamp")
    ] = None,
    show_managed_fields: Annotated[
        bool, typer.Option("--show-managed-fields", help="accepted: no managedFields are kept")
    ] = False,
) -> None:
    """List config held by the running mesh (KIND may be a list: vs,dr), or its pods, services,
    deployments, namespaces, endpoints, events and CRDs as kubectl shows them (`get pods -n
    istio-system`, `get svc`, `get ns -L istio-injection`, `get ep`, `get all`, `get events`,
    `get pod -l app=ratings -o jsonpath='{.items[0].metadata.name}'`)."""
    from pilotfish.cli.get_filters import Filters
    from pilotfish.cli.get_output import get_command
    from pilotfish.cli.selectors import Selector, parse_selector

    labels = parse_selector(selector) if selector is not None else Selector()
    if labels is None:
        typer.echo(f"error: -l {selector!r}: expected key=value[,key=value]", err=True)
        exit_with(1)
    ns = None if all_namespaces else namespace or state.namespace or "default"
    keys = [k for value in label_columns or [] for k in value.split(",") if k]
    filters = Filters(field_selector, sort_by, selector or "")
    shown = (show_labels, keys)
    exit_with(
        get_command(
            kind, names or [], ns, output, state.state_dir, labels, shown, no_headers, filters
        )
    )


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
        bool, typer.Option("--stdin", "-i", help="pass stdin to the command (else it reads none)")
    ] = False,
    tty: Annotated[
        bool, typer.Option("--tty", "-t", help="accepted (the terminal is kept)")
    ] = False,
) -> None:
    """Run a command as if inside POD: its HTTP goes out through that pod's sidecar."""
    from pilotfish.cli.exec_cmd import exec_command

    exit_with(
        exec_command(
            pod, command or [], state.state_dir, container, namespace or state.namespace, stdin
        )
    )


@app.command()
def cp(
    source: Annotated[str, typer.Argument(help="a local file, or [NAMESPACE/]POD:PATH")],
    destination: Annotated[str, typer.Argument(help="[NAMESPACE/]POD:PATH, or a local path")],
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="accepted: a pod's containers share")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Copy a file into a pod or out of it, as `kubectl cp`."""
    from pilotfish.cli.pod_copy import cp_command

    exit_with(cp_command(source, destination, state.state_dir, namespace or state.namespace))


@app.command()
def logs(
    pod: Annotated[
        str | None, typer.Argument(help="pod (httpbin-v2-0, httpbin-v2, NAME.NS, deploy/NAME)")
    ] = None,
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="the app (default) or istio-proxy")
    ] = None,
    tail: Annotated[
        int | None,
        typer.Option("--tail", help="last N lines (-1: all; default all, 10 per pod with -l)"),
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="pods with labels key=value[,…]")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="only lines newer than 10s, 5m, 1h, …")
    ] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", help="each line after its RFC 3339 time")
    ] = False,
    previous: Annotated[
        bool, typer.Option("--previous", "-p", help="the container's run before a restart")
    ] = False,
    all_containers: Annotated[
        bool, typer.Option("--all-containers", help="every container of the pod")
    ] = False,
    prefix: Annotated[
        bool, typer.Option("--prefix", help="each line after [pod/NAME/CONTAINER]")
    ] = False,
) -> None:
    """Print a pod's app log, or its Envoy's (`-c istio-proxy`), as `kubectl logs`."""
    from pilotfish.cli.log_lines import LogError, LogOptions, parse_duration
    from pilotfish.cli.logs import logs_command

    try:
        seconds = parse_duration(since) if since is not None else None
    except LogError as exc:
        typer.echo(str(exc), err=True)
        exit_with(1)
    options = LogOptions(-1, seconds, timestamps, previous, prefix)
    ns = namespace or state.namespace
    exit_with(
        logs_command(pod, container, tail, ns, state.state_dir, selector, options, all_containers)
    )


@app.command()
def top(
    kind: Annotated[str, typer.Argument(help="pods (po) or nodes (no)")],
    name: Annotated[str | None, typer.Argument()] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    containers: Annotated[
        bool, typer.Option("--containers", help="each container's usage")
    ] = False,
) -> None:
    """CPU and memory of the mesh's pods or of this machine (its one node), as `kubectl top`."""
    from pilotfish.cli.usage import top_command

    ns = None if all_namespaces else (namespace or state.namespace or "")
    exit_with(top_command(kind, name, ns, containers, state.state_dir))


@app.command()
def annotate(
    args: Annotated[list[str], typer.Argument(help="TYPE NAME key=value… | key-… (or TYPE/NAME)")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a value")] = False,
    namespace: Namespace = None,
) -> None:
    """Annotate an object the mesh holds, as `kubectl annotate` (`key-` removes one); Istio's
    Dry Run task: `annotate --overwrite authorizationpolicies NAME -n NS istio.io/dry-run=true`."""
    from pilotfish.cli.annotate import annotate_command

    exit_with(annotate_command(args, overwrite, namespace or state.namespace, state.state_dir))


@app.command()
def patch(
    args: Annotated[list[str], typer.Argument(help="TYPE NAME (or TYPE/NAME)")],
    patch: Annotated[str, typer.Option("--patch", "-p", help="the patch, JSON")],
    patch_type: Annotated[
        str, typer.Option("--type", help="strategic (default), merge or json")
    ] = "strategic",
    namespace: Namespace = None,
) -> None:
    """Patch an object the mesh holds, as `kubectl patch` (Istio's Ingress Access Control task:
    `patch svc istio-ingressgateway -n istio-system -p '{"spec":{…}}'`)."""
    from pilotfish.cli.patch import patch_command

    ns = namespace or state.namespace
    exit_with(patch_command(args, patch, patch_type, ns, state.state_dir))


@app.command()
def label(
    args: Annotated[list[str], typer.Argument(help="namespace NAME key=value… | key-…")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a label's value")] = False,
) -> None:
    """Label a namespace as `kubectl label namespace NS key=value` (`key-` removes one); says
    what the label changes in local mode (istio-injection: the sidecars of pods applied later)."""
    from pilotfish.cli.label import label_command

    exit_with(label_command(args, overwrite, state.state_dir))


create_app = typer.Typer(
    help="kubectl's `create -f FILE`, `create secret tls|generic`, `configmap` and `namespace`",
    no_args_is_help=True,
    invoke_without_command=True,
)
create_secret = typer.Typer(help="a v1 Secret (a gateway's credentialName)", no_args_is_help=True)
create_app.add_typer(create_secret, name="secret")
app.add_typer(create_app, name="create")


@create_app.callback()
def _create_root(
    ctx: typer.Context,
    namespace: Namespace = None,
    filename: Annotated[
        list[str] | None, typer.Option("--filename", "-f", help="file, directory or - for stdin")
    ] = None,
) -> None:
    """`create -f FILE` as kubectl's (apply, refused if an object exists already); kubectl
    accepts `create -n NS secret …` as well as `create secret … -n NS`."""
    state.create_namespace = namespace or state.namespace  # `kubectl -n NS create …` too
    if ctx.invoked_subcommand is None:
        from pilotfish.cli.create_files import create_files_command

        if not filename:
            typer.echo("error: must specify -f, or what to create (secret, namespace)", err=True)
            exit_with(1)
        ns = namespace or state.namespace
        exit_with(create_files_command(filename or [], state.state_dir, ns, True, 10.0))


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
    exit_with(run_create(name, ns, "kubernetes.io/tls", state.state_dir, cert=cert, key=key))


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
    exit_with(run_create(name, ns, "Opaque", state.state_dir, from_file=from_file))


@create_app.command("configmap")
def create_configmap(
    name: Annotated[str, typer.Argument()],
    from_file: Annotated[
        list[str] | None, typer.Option("--from-file", help="KEY=PATH or PATH, repeatable")
    ] = None,
    from_literal: Annotated[
        list[str] | None, typer.Option("--from-literal", help="KEY=VALUE, repeatable")
    ] = None,
    namespace: Namespace = None,
) -> None:
    """A ConfigMap from files and literals, as `kubectl create configmap` (alias `cm`)."""
    from pilotfish.cli.create import run_create_configmap

    ns = namespace or state.create_namespace
    exit_with(run_create_configmap(name, ns, state.state_dir, from_file or [], from_literal or []))


create_app.command("cm", hidden=True, help="Alias of configmap.")(create_configmap)


@create_app.command("namespace")
def create_namespace(name: Annotated[str, typer.Argument()]) -> None:
    """A namespace, as `kubectl create namespace NAME` (alias `ns`)."""
    from pilotfish.cli.label import create_namespace_command

    exit_with(create_namespace_command(name, state.state_dir))


create_app.command("ns", hidden=True, help="Alias of namespace.")(create_namespace)
