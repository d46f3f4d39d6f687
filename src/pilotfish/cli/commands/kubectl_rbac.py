"""kubectl's `create serviceaccount|role|clusterrole|rolebinding|clusterrolebinding` (typer
glue; the documents and their checks are `cli.create_rbac`'s). Stored and shown, not enforced."""

from __future__ import annotations

from typing import Annotated

import typer

from pilotfish.cli.app import Namespace, exit_with, state
from pilotfish.cli.commands.kubectl import create_app

Many = Annotated[list[str] | None, typer.Option()]


def _ns(namespace: str | None) -> str:
    return namespace or state.create_namespace or state.namespace or "default"


@create_app.command("serviceaccount")
def create_service_account(
    name: Annotated[str, typer.Argument()], namespace: Namespace = None
) -> None:
    """A service account, as `kubectl create serviceaccount NAME` (alias `sa`)."""
    from pilotfish.cli.create_rbac import create_object_command, service_account_document

    exit_with(
        create_object_command(service_account_document, state.state_dir, name, _ns(namespace))
    )


create_app.command("sa", hidden=True, help="Alias of serviceaccount.")(create_service_account)


@create_app.command("role")
def create_role(
    name: Annotated[str, typer.Argument()],
    verb: Annotated[list[str] | None, typer.Option("--verb", help="get,list,… repeatable")] = None,
    resource: Annotated[
        list[str] | None, typer.Option("--resource", help="pods, deployments.apps, pods/log")
    ] = None,
    resource_name: Annotated[list[str] | None, typer.Option("--resource-name")] = None,
    namespace: Namespace = None,
) -> None:
    """A Role, as `kubectl create role NAME --verb=… --resource=…` (stored, not enforced)."""
    from pilotfish.cli.create_rbac import create_object_command, role_document

    args = (name, _ns(namespace), verb or [], resource or [], resource_name or [])
    exit_with(create_object_command(role_document, state.state_dir, "Role", *args))


@create_app.command("clusterrole")
def create_cluster_role(
    name: Annotated[str, typer.Argument()],
    verb: Annotated[list[str] | None, typer.Option("--verb", help="get,list,… repeatable")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource")] = None,
    resource_name: Annotated[list[str] | None, typer.Option("--resource-name")] = None,
    non_resource_url: Annotated[list[str] | None, typer.Option("--non-resource-url")] = None,
) -> None:
    """A ClusterRole, as `kubectl create clusterrole NAME --verb=… --resource=…`."""
    from pilotfish.cli.create_rbac import create_object_command, role_document

    args = (name, "", verb or [], resource or [], resource_name or [], non_resource_url or [])
    exit_with(create_object_command(role_document, state.state_dir, "ClusterRole", *args))


def _binding(kind: str, name: str, namespace: str, role: str, cluster_role: str,
             user: Many, group: Many, serviceaccount: Many) -> None:  # fmt: skip
    from pilotfish.cli.create_rbac import binding_document, create_object_command

    args = (name, namespace, role, cluster_role, user or [], group or [], serviceaccount or [])
    exit_with(create_object_command(binding_document, state.state_dir, kind, *args))


@create_app.command("rolebinding")
def create_role_binding(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option("--role")] = "",
    clusterrole: Annotated[str, typer.Option("--clusterrole")] = "",
    user: Annotated[list[str] | None, typer.Option("--user")] = None,
    group: Annotated[list[str] | None, typer.Option("--group")] = None,
    serviceaccount: Annotated[
        list[str] | None, typer.Option("--serviceaccount", help="NAMESPACE:NAME")
    ] = None,
    namespace: Namespace = None,
) -> None:
    """A RoleBinding, as `kubectl create rolebinding NAME --role=…|--clusterrole=… --user=…`."""
    _binding("RoleBinding", name, _ns(namespace), role, clusterrole, user, group, serviceaccount)


@create_app.command("clusterrolebinding")
def create_cluster_role_binding(
    name: Annotated[str, typer.Argument()],
    clusterrole: Annotated[str, typer.Option("--clusterrole")] = "",
    user: Annotated[list[str] | None, typer.Option("--user")] = None,
    group: Annotated[list[str] | None, typer.Option("--group")] = None,
    serviceaccount: Annotated[
        list[str] | None, typer.Option("--serviceaccount", help="NAMESPACE:NAME")
    ] = None,
) -> None:
    """A ClusterRoleBinding, as `kubectl create clusterrolebinding NAME --clusterrole=…`."""
    _binding("ClusterRoleBinding", name, "", "", clusterrole, user, group, serviceaccount)
