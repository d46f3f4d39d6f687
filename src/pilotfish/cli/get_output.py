"""kubectl's `get` over one or several resource types, printed as kubectl prints them.

`get_command` is `pilotfish get`. The arguments, as kubectl's `ResourceTypeOrNameArgs` reads
them: `TYPE[,TYPE…] [NAME…]` or `TYPE/NAME…` (of one type or several, in the order given).
Each type's objects come from the running mesh as a `Section`: `get` (config kinds) or
`kube_get` (pods, services, deployments, namespaces, endpoints, nodes, `all`); CRDs and events
print on their own (`kube_cluster_views`).

Printing (kubectl's `get`): a table per type, separated by an empty line, NAME as
`service/a` when objects of more than one type are shown; `-o yaml|json|jsonpath` print one
object when a single one was named (`get svc a`, `get svc/a`), else ONE `v1 List` (`items`,
`metadata.resourceVersion: ""`) of every object of every type, also when only one was found
(`-l app=x`) or none; JSON indented by four spaces with its keys sorted, YAML as kubectl's
sigs.k8s.io/yaml writes it (`config.go_yaml`: `creationTimestamp: "2026-…"`, `resourceVersion:
"12"`, keys in go-yaml's order); `-o name` each object
as `service/a`. Names not found: kubectl's NotFound line each, after the objects, exit 1.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilotfish.cli import custom_columns
from pilotfish.cli.get_filters import FilterError, Filters
from pilotfish.cli.jsonpath import JsonPathError, render
from pilotfish.cli.kube_views import no_resources
from pilotfish.cli.selectors import Selector
from pilotfish.config.go_yaml import dump_go_yaml
from pilotfish.config.server_meta import as_served

OUTPUTS = ("table", "wide", "yaml", "json", "name")
Table = Callable[[list[dict[str, Any]], str], str]  # (objects, NAME prefix) -> table text


@dataclass
class Section:
    """One type's share of a `get`: `name` as kubectl prefixes its objects (`service`,
    `deployment.apps`, `virtualservice.networking.istio.io`), `resource` as its NotFound line
    names it (`services`, `virtualservices.networking.istio.io`)."""

    name: str
    resource: str
    objects: list[dict[str, Any]]
    table: Table
    missing: list[str] = field(default_factory=list)
    namespaced: bool = True


def bad_output(output: str) -> bool:
    """kubectl's error for an output format it has no printer for (True when printed)."""
    if output in OUTPUTS or output.startswith("jsonpath=") or custom_columns.is_custom(output):
        return False
    print(
        f'error: unable to match a printer suitable for the output format "{output}",'
        f" allowed formats are: custom-columns,custom-columns-file,{','.join(OUTPUTS)},jsonpath",
        file=sys.stderr,
    )
    return True


def get_command(
    kind: str,
    names: list[str],
    namespace: str | None,
    output: str,
    state_dir: Path,
    labels: Selector | None = None,
    label_columns: tuple[bool, list[str]] = (False, []),
    no_headers: bool = False,
    filters: Filters | None = None,
) -> int:
    """kubectl get `KIND[,KIND…] [NAME…]` or `TYPE/NAME…`; `namespace` None means every
    namespace (-A); `label_columns` is (`--show-labels`, the `-L` keys); `filters`
    `--field-selector` and `--sort-by`."""
    from pilotfish.cli.errors import running_mesh
    from pilotfish.cli.get import config_section
    from pilotfish.cli.kube_cluster_views import CRD_KINDS, EVENT_KINDS, cluster_view
    from pilotfish.cli.kube_get import VIEW_KINDS, view_sections
    from pilotfish.config.kinds import is_gateway_api
    from pilotfish.local.client import ApiError

    groups = resource_groups(kind, names)
    if isinstance(groups, str):
        print(f"error: {groups}", file=sys.stderr)
        return 1
    if bad_output(output):
        return 1
    try:
        custom = custom_columns.parse(output) if custom_columns.is_custom(output) else None
    except FilterError as exc:
        print(exc, file=sys.stderr)
        return 1
    own = [k for k, _ in groups if k.lower() in (*CRD_KINDS, *EVENT_KINDS) or is_gateway_api(k)]
    if own and len(groups) > 1:
        print(f"error: `get {own[0]}` lists on its own here: one `get` for it", file=sys.stderr)
        return 1
    if own:
        return cluster_view(groups[0][0], groups[0][1], namespace, namespace is None, output,
                            state_dir)  # fmt: skip
    info = running_mesh(state_dir)
    sections: list[Section] = []
    show, keys = label_columns
    for one, wanted in groups:
        if one.lower() in VIEW_KINDS:
            try:
                shown = (output == "wide", show, keys)
                sections += view_sections(one, wanted, namespace, info, labels, shown)
            except ApiError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            continue
        found = config_section(one, wanted, namespace, info, labels)
        if found is None:
            return 1
        sections.append(found)
    try:
        for section in sections:
            section.objects = (filters or Filters()).apply(
                section.name, section.resource, section.objects
            )
    except FilterError as exc:
        print(exc, file=sys.stderr)
        return 1
    single = single_implied(kind, names)
    return print_sections(sections, output, single, namespace, no_headers, custom)


def resource_groups(kind: str, names: list[str]) -> list[tuple[str, list[str]]] | str:
    """(type, names) in kubectl's order, or kubectl's error for arguments it refuses."""
    if "/" not in kind and any("/" in n for n in names):
        return (
            "there is no need to specify a resource type as a separate argument when passing"
            " arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>'"
            " instead of 'kubectl get resource resource/<resource_name>'"
        )
    if "/" in kind:
        pairs = [arg.partition("/") for arg in [kind, *names]]
        if any(not sep or not t or not n for t, sep, n in pairs):
            return "arguments in resource/name form must have a single resource and name"
        groups: list[tuple[str, list[str]]] = []
        for kind_of, _, name in pairs:  # `svc/a svc/b pod/c`: svc (a, b), then pod (c)
            if groups and groups[-1][0] == kind_of:
                groups[-1][1].append(name)
            else:
                groups.append((kind_of, [name]))
        return groups
    kinds = [k for k in kind.split(",") if k]
    if len(kinds) > 1 and names:
        return "you must specify only one resource"
    return [(k, list(names)) for k in kinds]


def single_implied(kind: str, names: list[str]) -> bool:
    """kubectl prints the object itself (not a List) for one name: `get svc a`, `get svc/a`."""
    return not names if "/" in kind else len(names) == 1 and "," not in kind


def print_sections(
    sections: list[Section],
    output: str,
    single: bool,
    namespace: str | None,
    no_headers: bool = False,
    columns: custom_columns.Columns | None = None,
) -> int:
    """Every section's objects in `output`'s format, then the names not found; the exit code.
    `no_headers`: tables without their header line, and then no empty line between them;
    `columns` those of `-o custom-columns`: one table of every object."""
    everything = [as_served(o) for s in sections for o in s.objects]
    code = 0
    if columns is not None:  # nothing found: the header alone, as kubectl's printGeneric
        text = custom_columns.render(columns, everything, no_headers)
        print(text, end="\n" if text else "")
    elif output in ("yaml", "json") or output.startswith("jsonpath="):
        if everything or not single:
            payload = everything[0] if single else listed(everything)
            code = print_object(payload, output)
    elif output == "name":
        lines = [f"{s.name}/{o['metadata']['name']}" for s in sections for o in s.objects]
        if lines:
            print("\n".join(lines))
    elif everything:
        kinds = {s.name for s in sections if s.objects}
        tables = [
            s.table(s.objects, f"{s.name}/" if len(kinds) > 1 else "")
            for s in sections
            if s.objects
        ]
        if no_headers:
            tables = [_without_header(t) for t in tables]
        print(("\n" if no_headers else "\n\n").join(tables))
    elif not any(s.missing for s in sections):
        namespaced = all(s.namespaced for s in sections)
        print(no_resources(namespace if namespaced else None), file=sys.stderr)
    return max([code, *(not_found(s.resource, s.missing) for s in sections)])


def not_found(resource: str, missing: list[str]) -> int:
    """kubectl's error for each name not found (`services "x" not found`), printed after the
    objects that were; 1 when there was one."""
    sys.stdout.flush()  # the objects first, as kubectl, when both go to one terminal
    for name in missing:
        print(f'Error from server (NotFound): {resource} "{name}" not found', file=sys.stderr)
    return 1 if missing else 0


def _without_header(table: str) -> str:
    """A table's rows without its header line, the columns as wide as their cells alone (as
    kubectl's tab writer makes them); as they were if a cell cannot be told apart."""
    lines = table.splitlines()
    rows = [re.split(r" {3,}", line) for line in lines[1:]]
    if (
        not rows
        or len({len(r) for r in rows}) != 1
        or len(rows[0]) != len(re.split(r" {3,}", lines[0]))
    ):
        return "\n".join(lines[1:])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's List of the objects `get` found (its printGeneric)."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def print_object(payload: Any, output: str) -> int:
    """One object (or List) as `-o yaml|json|jsonpath=…` prints it, with the API server's fields
    (`server_meta.as_served`); 1 for a bad template."""
    if isinstance(payload, dict) and payload.get("kind") == "List":
        payload = {**payload, "items": [as_served(o) for o in payload.get("items") or []]}
    elif isinstance(payload, dict):
        payload = as_served(payload)
    if output == "json":
        print(json.dumps(payload, indent=4, sort_keys=True))
        return 0
    if output == "yaml":
        print(dump_go_yaml(payload), end="")  # as kubectl's sigs.k8s.io/yaml writes it
        return 0
    template = output.partition("=")[2]
    try:
        print(render(payload, template), end="")  # kubectl adds no newline
    except JsonPathError as exc:
        print(f"error: error parsing jsonpath {template}, {exc}", file=sys.stderr)
        return 1
    return 0
