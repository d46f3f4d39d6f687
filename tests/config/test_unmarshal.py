"""A spec is read as istioctl reads a file (protobuf's legacy JSON reader, `jsonpb`): quoted
numbers, integral floats, null fields, null list items and map values (pilotfish.config.unmarshal).
Each case is a file `istioctl validate -f` accepts or refuses; the value the checks and the
translation see is asserted too."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.config import load

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: g, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {number}, name: http, protocol: HTTP}}
    hosts: ["*"]
"""


def _one(text: str) -> Any:
    result = load(text, "u.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    (obj,) = result.objects
    return obj


@pytest.mark.parametrize("number", ['"80"', "80", "80.0", "' 80'"])
def test_a_port_number_is_read_as_jsonpb_reads_it(number: str) -> None:
    obj = _one(GATEWAY.format(number=number))
    assert obj.spec.servers[0].port.number == 80
    assert obj.raw["spec"]["servers"][0]["port"]["number"] == 80


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ('"eighty"', "must be an integer, got string"),
        ('"8.5"', "must be an integer, got string"),
        ("8.5", "must be an integer"),
        ('"0x50"', "must be an integer, got string"),
        ("true", "must be an integer, got boolean"),
    ],
)
def test_what_jsonpb_refuses_stays_refused(number: str, message: str) -> None:
    result = load(GATEWAY.format(number=number), "u.yaml")
    assert not result.ok
    (error, *_) = result.errors
    assert error.path == "spec.servers[0].port.number"
    assert message in error.message
    assert str(error).startswith("u.yaml:7: Gateway default/g at spec.servers[0].port.number")


VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: r, namespace: default}}
spec:
  hosts: [r]
  http:
  - {route}
    route:
    - destination: {{host: r}}
"""


def test_a_null_match_is_one_match_of_everything() -> None:
    obj = _one(VS.format(route="match: [null]"))
    (match,) = obj.spec.http[0].match
    assert match.model_dump(exclude_defaults=True) == {}


def test_a_quoted_percentage_is_a_number() -> None:
    obj = _one(VS.format(route="mirrorPercentage: {value: '12.5'}\n    mirror: {host: m}"))
    assert obj.spec.http[0].mirror_percentage.value == 12.5


def test_null_fields_are_unset() -> None:
    obj = _one(VS.format(route="timeout: null\n    retries: null\n    match: null"))
    assert obj.spec.http[0].timeout is None
    assert obj.spec.http[0].retries is None


def test_a_null_string_in_a_list_is_empty_and_refused_as_an_empty_host() -> None:
    text = VS.format(route="timeout: 1s").replace("hosts: [r]", "hosts: [r, null]")
    result = load(text, "u.yaml")
    assert not result.ok
    assert [d.path for d in result.errors] == ["spec.hosts[1]"]


def test_a_quoted_boolean_and_a_number_for_a_string_are_refused() -> None:
    text = VS.format(route="timeout: 1s").replace("hosts: [r]", "hosts: [r]\n  exportTo: [5]")
    (error,) = load(text, "u.yaml").errors
    assert (error.path, error.message) == ("spec.exportTo[0]", "must be a string, got number")
    dr = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
        "spec:\n  host: r\n  trafficPolicy:\n    tls: {mode: SIMPLE, insecureSkipVerify: 'true'}\n"
    )
    (error,) = load(dr, "d.yaml").errors
    assert error.path == "spec.trafficPolicy.tls.insecureSkipVerify"


def test_a_kind_without_a_model_is_read_by_its_schema() -> None:
    text = (
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\n"
        "spec:\n  url: oci://example.com/filter:1\n  priority: '10'\n"
        "  match: [{ports: [{number: '8080'}]}, null]\n"
    )
    result = load(text, "w.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    (doc,) = result.others
    assert doc.data["spec"]["priority"] == 10
    assert doc.data["spec"]["match"] == [{"ports": [{"number": 8080}]}, {}]
