"""istioctl's diagnostic commands from Istio's "Diagnostic Tools" pages: `admin log` (also
`istiod log`, `admin l`), `x check-inject`, `bug-report`, and `tag list` (typer glue; each
command's logic is its own module)."""

from __future__ import annotations

from typing import Annotated

import typer

from pilotfish.cli.app import Namespace, app, exit_with, state
from pilotfish.cli.commands.istioctl import experimental

admin_app = typer.Typer(
    help="Manage control plane (istiod) configuration, as `istioctl admin`", no_args_is_help=True
)


@admin_app.command("log")
def admin_log(
    pod: Annotated[str | None, typer.Argument(help="the control plane pod (istiod-0)")] = None,
    level: Annotated[
        str, typer.Option("--level", help="<scope>:<level>[,…]; none, error, warn, info, debug")
    ] = "",
    stack_trace_level: Annotated[
        str, typer.Option("--stack-trace-level", help="<scope>:<level>[,…]")
    ] = "",
    reset: Annotated[bool, typer.Option("--reset", help="every level back to info/none")] = False,
    log_reset: Annotated[bool, typer.Option("--log-reset", help="log levels to info")] = False,
    stack_trace_reset: Annotated[
        bool, typer.Option("--stack-trace-reset", help="stack trace levels to none")
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="short|json|yaml")] = "short",
    ctrlz_port: Annotated[
        int | None, typer.Option("--ctrlz_port", help="ControlZ port [default: 9876]")
    ] = None,
    selector: Annotated[
        str, typer.Option("--selector", "-l", help="accepted (the one control plane)")
    ] = "app=istiod",
    revision: Annotated[str, typer.Option("--revision", "-r", help="accepted")] = "",
) -> None:
    """Retrieve or update logging levels of the control plane's scopes (`istioctl admin log`)."""
    from pilotfish.cli.admin_log import LogOptions, admin_log_command

    del selector, revision  # one control plane: istioctl's ways of choosing it are accepted
    options = LogOptions(
        pod=pod, level=level, stack_trace_level=stack_trace_level, reset=reset,
        log_reset=log_reset, stack_trace_reset=stack_trace_reset, output=output,
        ctrlz_port=ctrlz_port,
    )  # fmt: skip
    exit_with(admin_log_command(options, state.state_dir))


admin_app.command("l", hidden=True, help="Alias of log.")(admin_log)
app.add_typer(admin_app, name="admin")
app.add_typer(admin_app, name="istiod", hidden=True)  # istioctl's alias of `admin`


@experimental.command("check-inject")
def check_inject(
    target: Annotated[
        str | None, typer.Argument(help="[<type>/]<name>[.<namespace>]: deployment/NAME, a pod")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", "-l", help="pod labels k=v,… (no pod needed)")
    ] = None,
    namespace: Namespace = None,
) -> None:
    """Why a pod is (or would be) injected or not, as `istioctl x check-inject`."""
    from pilotfish.cli.check_inject import check_inject_command

    exit_with(check_inject_command(target, labels, namespace or state.namespace, state.state_dir))


@app.command("bug-report")
def bug_report(
    include: Annotated[
        list[str] | None, typer.Option("--include", help="ns1,ns2[/…]: whose proxies to collect")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="ns1,ns2[/…]: whose proxies to leave out")
    ] = None,
    output_dir: Annotated[
        str | None, typer.Option("--output-dir", help="where bug-report.tar.gz goes [.]")
    ] = None,
    skip_analyze: Annotated[bool, typer.Option("--skip-analyze", help="no analyze")] = False,
) -> None:
    """Collect the mesh's logs, proxy config and analysis in bug-report.tar.gz (`istioctl
    bug-report`)."""
    from pilotfish.cli.bug_report import bug_report_command

    exit_with(
        bug_report_command(
            include or [], exclude or [], output_dir, not skip_analyze, state.state_dir
        )
    )


tag_app = typer.Typer(help="Revision tags, as `istioctl tag`", no_args_is_help=True)


@tag_app.command("list")
def tag_list(
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or yaml")] = "table",
) -> None:
    """The mesh's revision tags and the namespaces that use them."""
    from pilotfish.cli.revision_tags import tag_list_command

    exit_with(tag_list_command(output, state.state_dir))


tag_app.command("show", hidden=True)(tag_list)  # istioctl's alias


def _tag_change(action: str) -> None:
    @tag_app.command(action)
    def change(
        tag: Annotated[str, typer.Argument(help="the revision tag")],
        revision: Annotated[str, typer.Option("--revision", "-r")] = "",
        yes: Annotated[bool, typer.Option("--skip-confirmation", "-y")] = False,
    ) -> None:
        from pilotfish.cli.revision_tags import tag_change_command

        del revision, yes
        exit_with(tag_change_command(action, tag))


for _action in ("set", "generate", "remove"):
    _tag_change(_action)
app.add_typer(tag_app, name="tag")
