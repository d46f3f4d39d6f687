"""kubectl's `get` arguments and printing (`cli.get_output`): TYPE/NAME of several types, one
List for several objects, a table per type with `service/a` names when types mix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pilotfish.cli.get_output import Section, print_sections, resource_groups, single_implied


def test_arguments_are_read_as_kubectl_reads_them() -> None:
    assert resource_groups("svc", ["a", "b"]) == [("svc", ["a", "b"])]
    assert resource_groups("svc,pod", []) == [("svc", []), ("pod", [])]
    assert resource_groups("svc/a", ["svc/b", "pod/c", "svc/d"]) == [
        ("svc", ["a", "b"]), ("pod", ["c"]), ("svc", ["d"]),
    ]  # fmt: skip
    assert resource_groups("svc,pod", ["a"]) == "you must specify only one resource"
    assert "single resource and name" in str(resource_groups("svc/a", ["b"]))
    assert "no need to specify a resource type" in str(resource_groups("svc", ["svc/a"]))
    assert single_implied("svc", ["a"]) and single_implied("svc/a", [])
    assert not single_implied("svc", []) and not single_implied("svc/a", ["pod/b"])
    assert not single_implied("svc", ["a", "b"])


def obj(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "default"}}


def section(name: str, found: list[dict[str, Any]], missing: list[str] | None = None) -> Section:
    def table(shown: list[dict[str, Any]], prefix: str) -> str:
        return "\n".join(["NAME", *(prefix + o["metadata"]["name"] for o in shown)])

    return Section(name, name + "s", found, table, missing or [])


def test_several_objects_print_one_list(capsys: pytest.CaptureFixture[str]) -> None:
    both = [section("service", [obj("Service", "a")]), section("pod", [obj("Pod", "b")])]
    assert print_sections(both, "json", False, "default") == 0
    out = capsys.readouterr().out
    assert out.startswith('{\n    "apiVersion": "v1",\n    "items": [\n'), out  # kubectl's
    assert json.loads(out)["metadata"] == {"resourceVersion": ""}
    assert print_sections([section("service", [obj("Service", "a")])], "json", True, "x") == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "Service"
    assert print_sections(both, "table", False, "default") == 0
    assert capsys.readouterr().out == "NAME\nservice/a\n\nNAME\npod/b\n"
    assert print_sections([both[0], section("pod", [])], "table", False, "default") == 0
    assert capsys.readouterr().out == "NAME\na\n"  # one type shown: no prefix


def test_names_not_found_follow_what_was(capsys: pytest.CaptureFixture[str]) -> None:
    some = [section("service", [obj("Service", "a")], ["x"])]
    assert print_sections(some, "name", False, "default") == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("service/a\n", 'Error from server (NotFound): services "x" not found\n')
    assert print_sections([section("pod", [])], "table", False, "foo") == 0
    assert capsys.readouterr().err == "No resources found in foo namespace.\n"
