"""kubectl's `--field-selector`, `--sort-by` (`cli.get_filters`) and `-o custom-columns`
(`cli.custom_columns`), on objects shaped as `get` builds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pilotfish.cli import custom_columns
from pilotfish.cli.get_filters import (
    FilterError,
    Filters,
    Requirement,
    parse_fields,
    relaxed,
    select_fields,
    sort_objects,
)


def pod(name: str, phase: str, namespace: str = "default", ip: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": "localhost"},
        "status": {"phase": phase, "podIP": ip},
    }


PODS = [pod("a-10", "Running", ip="127.0.0.10"), pod("a-2", "Pending"), pod("b", "Running", "x")]


def test_field_selector_terms() -> None:
    assert parse_fields("a=b,c!=d, e==f") == [
        Requirement("a", True, "b"), Requirement("c", False, "d"), Requirement("e", True, "f"),
    ]  # fmt: skip
    assert parse_fields("") == []
    with pytest.raises(FilterError, match="invalid selector: 'a=b,c'; can't understand 'c'"):
        parse_fields("a=b,c")


def test_pods_are_selected_by_the_fields_the_api_server_serves() -> None:
    def names(wanted: str) -> list[str]:
        return [p["metadata"]["name"] for p in select_fields("pod", "pods", PODS, wanted, "")]

    assert names("status.phase=Running") == ["a-10", "b"]
    assert names("status.phase!=Running") == ["a-2"]
    assert names("metadata.namespace=x,status.phase=Running") == ["b"]
    assert names("spec.nodeName=localhost,metadata.name!=b") == ["a-10", "a-2"]
    assert names("spec.restartPolicy=Always,spec.hostNetwork=false") == ["a-10", "a-2", "b"]
    assert names("status.podIP=127.0.0.10") == ["a-10"]
    with pytest.raises(FilterError) as refused:
        names("spec.containers=x")
    assert str(refused.value) == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label'
        ' selector "", field selector "spec.containers=x": field label not supported:'
        " spec.containers"
    )


def test_other_kinds_serve_name_and_namespace() -> None:
    vs = {"apiVersion": "networking.istio.io/v1", "metadata": {"name": "r", "namespace": "d"}}
    section, resource = "virtualservice.networking.istio.io", "virtualservices.networking.istio.io"
    assert select_fields(section, resource, [vs], "metadata.name=r", "") == [vs]
    with pytest.raises(FilterError) as refused:
        select_fields(section, resource, [vs], "status.phase=x", "app=a")
    assert str(refused.value) == (
        'Error from server (BadRequest): Unable to find "networking.istio.io/v1, Resource='
        'virtualservices" that match label selector "app=a", field selector "status.phase=x":'
        ' "status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
    deploy = {"apiVersion": "apps/v1", "metadata": {"name": "d"}}
    with pytest.raises(FilterError, match=r'"apps/v1, Resource=deployments".*not supported'):
        select_fields("deployment.apps", "deployments.apps", [deploy], "status.phase=x", "")


def test_sort_by_is_natural_numeric_and_puts_the_missing_first() -> None:
    assert relaxed("metadata.name") == relaxed(".metadata.name") == "{.metadata.name}"
    assert relaxed("{.metadata.name}") == relaxed("{metadata.name}") == "{.metadata.name}"
    names = [p["metadata"]["name"] for p in sort_objects(PODS, ".metadata.name")]
    assert names == ["a-2", "a-10", "b"]  # natural order, as kubectl's sortorder
    by_ip = [p["metadata"]["name"] for p in sort_objects(PODS, "{.status.podIP}")]
    assert by_ip == ["a-2", "b", "a-10"]  # "" before an address; stable
    numbers = [{"n": 10}, {"n": 9}, {}]
    assert sort_objects(numbers, ".n") == [{}, {"n": 9}, {"n": 10}]
    with pytest.raises(FilterError, match=r'path "\{\.nope\}" in the list of objects'):
        sort_objects(PODS, ".nope")
    assert Filters(None, ".metadata.name").apply("pod", "pods", []) == []


def test_custom_columns_print_as_kubectl(tmp_path: Path) -> None:
    columns = custom_columns.parse("custom-columns=NAME:.metadata.name,IP:status.podIP,X:.x")
    assert columns == [("NAME", "{.metadata.name}"), ("IP", "{.status.podIP}"), ("X", "{.x}")]
    text = custom_columns.render(columns, PODS[:2])
    assert text.splitlines() == [
        "NAME   IP           X",
        "a-10   127.0.0.10   <none>",
        "a-2                 <none>",
    ]
    assert custom_columns.render(columns[:1], [], no_headers=True) == ""
    assert custom_columns.go_value({"b": [1, True], "a": None}) == "map[a:<nil> b:[1 true]]"
    template = tmp_path / "cols"
    template.write_text("NAME  PHASE\n{.metadata.name}   .status.phase\n")
    assert custom_columns.parse(f"custom-columns-file={template}") == [
        ("NAME", "{.metadata.name}"), ("PHASE", "{.status.phase}"),
    ]  # fmt: skip
    for bad, words in (
        ("custom-columns=", "no custom columns given"),
        ("custom-columns=A:.a,B", "unexpected custom-columns spec: B, expected <header>:"),
        (f"custom-columns-file={tmp_path / 'none'}", "No such file"),
    ):
        with pytest.raises(FilterError, match=words):
            custom_columns.parse(bad)
    template.write_text("NAME\n")
    with pytest.raises(FilterError, match="missing spec line"):
        custom_columns.parse(f"custom-columns-file={template}")
