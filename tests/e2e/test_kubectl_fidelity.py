"""kubectl as Istio's docs use it, on a running mesh (httpbin and Istio's sleep sample): `get`'s
`-o yaml|json` print ONE `v1 List` for several objects (a single named one: the object itself),
and `get` of several types (`get svc/a pod/b`, `get svc,deploy`) prints a table per type with
kubectl's `service/a` names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.e2e.meshctl import LocalMesh, running_mesh

SLEEP = "tests/data/istio-samples/sleep.yaml"

RULES = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec: {host: httpbin}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sleep}
spec: {host: sleep}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as m:
        applied = m.pilotfish("apply", "-f", SLEEP)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        yield m


def documents(text: str) -> list[Any]:
    return list(YAML(typ="safe").load_all(text))


def test_get_prints_one_list_for_several_objects(mesh: LocalMesh) -> None:
    applied = mesh.pilotfish("apply", "-f", "-", stdin=RULES)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for args in (["dr"], ["dr", "httpbin", "sleep"], ["pods"], ["svc", "-l", "app=sleep"]):
        shown = mesh.pilotfish("get", *args, "-o", "yaml")
        assert shown.returncode == 0, shown.stderr
        (listed,) = documents(shown.stdout)  # one document, not a stream of objects
        assert listed["apiVersion"] == "v1" and listed["kind"] == "List", shown.stdout
        assert listed["metadata"] == {"resourceVersion": ""}, shown.stdout
    assert [i["metadata"]["name"] for i in listed["items"]] == ["sleep"]  # one found: a List
    pods = mesh.pilotfish("get", "pods", "-o", "json")
    assert pods.stdout.startswith('{\n    "apiVersion": "v1",\n    "items": [\n'), pods.stdout
    names = [i["metadata"]["name"] for i in json.loads(pods.stdout)["items"]]
    assert names == ["httpbin-v1-0", "sleep-0"], names
    one = json.loads(mesh.pilotfish("get", "pod", "sleep-0", "-o", "json").stdout)
    assert one["kind"] == "Pod" and one["metadata"]["name"] == "sleep-0", one
    typed = json.loads(mesh.pilotfish("get", "dr/sleep", "-o", "json").stdout)
    assert typed["kind"] == "DestinationRule", typed
    # Istio's docs read these from the List
    for template, expected in (
        ("{.items[*].metadata.name}", "httpbin-v1-0 sleep-0"),
        ("{.items[0].metadata.name}", "httpbin-v1-0"),
        ("{.items..metadata.name}", "httpbin-v1-0 sleep-0"),
    ):
        got = mesh.pilotfish("get", "pods", "-o", f"jsonpath={template}")
        assert (got.returncode, got.stdout) == (0, expected), got.stdout + got.stderr
    none = mesh.pilotfish("get", "vs", "-o", "yaml")  # nothing: an empty List, as kubectl
    assert documents(none.stdout) == [
        {"apiVersion": "v1", "items": [], "kind": "List", "metadata": {"resourceVersion": ""}}
    ], none.stdout
    again = mesh.pilotfish(
        "apply", "-f", "-", stdin=mesh.pilotfish("get", "dr", "-o", "yaml").stdout
    )
    assert again.stdout.count("unchanged") == 2, again.stdout + again.stderr
    assert mesh.pilotfish("delete", "-f", "-", stdin=RULES).returncode == 0


def tables(text: str) -> list[dict[str, list[str]]]:
    """Each table of kubectl's output (separated by an empty line): NAME -> the other cells."""
    found = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.splitlines()
        found.append({line.split()[0]: line.split()[1:] for line in lines})
    return found


def test_get_several_types_prints_a_table_each(mesh: LocalMesh) -> None:
    both = mesh.pilotfish("get", "svc/httpbin", "pod/sleep-0", "svc/sleep")
    assert both.returncode == 0, both.stderr
    first, second, third = tables(both.stdout)
    assert first["NAME"][:2] == ["TYPE", "CLUSTER-IP"] and list(first)[1:] == ["service/httpbin"]
    assert second["NAME"][:2] == ["READY", "STATUS"] and second["pod/sleep-0"][:2] == [
        "2/2",
        "Running",
    ], both.stdout
    assert list(third)[1:] == ["service/sleep"], both.stdout
    kinds = mesh.pilotfish("get", "svc,deploy")
    services, deploys = tables(kinds.stdout)
    assert {"service/httpbin", "service/sleep"} <= set(services), kinds.stdout
    assert deploys["deployment.apps/sleep"][0] == "1/1", kinds.stdout
    names = mesh.pilotfish("get", "svc,pods", "-l", "app=sleep", "-o", "name")
    assert names.stdout == "service/sleep\npod/sleep-0\n", names.stdout
    listed = json.loads(mesh.pilotfish("get", "svc/sleep", "pod/sleep-0", "-o", "json").stdout)
    assert [i["kind"] for i in listed["items"]] == ["Service", "Pod"], listed
    one_kind = mesh.pilotfish("get", "svc,dr")  # only services found: no `service/` prefix
    assert list(tables(one_kind.stdout)[0])[1:] == ["httpbin", "sleep"], one_kind.stdout
    missing = mesh.pilotfish("get", "svc/sleep", "pod/nosuch")
    assert missing.returncode == 1 and list(tables(missing.stdout)[0])[1:] == ["sleep"]
    assert missing.stderr == 'Error from server (NotFound): pods "nosuch" not found\n'
    refused = mesh.pilotfish("get", "svc,pods", "sleep")
    assert (refused.returncode, refused.stderr) == (
        1,
        "error: you must specify only one resource\n",
    )
