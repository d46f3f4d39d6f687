"""A spec is read as istioctl reads a file (protobuf's legacy JSON reader, `jsonpb`): quoted
numbers, integral floats, null fields, null list items and map values (pilotfish.config.unmarshal).
Each case is a file `istioctl validate -f` accepts or refuses; the value the checks and the
translation see is asserted too."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from pilotfish.config import load
from pilotfish.config.openapi import kind_schema

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


DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: d, namespace: default}}
spec:
  host: r
  trafficPolicy:
    tls: {{mode: {mode}}}
"""


@pytest.mark.parametrize(
    ("mode", "name"), [("0", "DISABLE"), ("1", "SIMPLE"), ("3.0", "ISTIO_MUTUAL")]
)
def test_an_enum_value_given_by_its_number_is_read_as_its_name(mode: str, name: str) -> None:
    obj = _one(DR.format(mode=mode))
    assert obj.spec.traffic_policy.tls.mode == name
    assert obj.raw["spec"]["trafficPolicy"]["tls"]["mode"] == name


@pytest.mark.parametrize(("mode", "number"), [("4", 4), ("-1", -1), ("2147483647", 2**31 - 1)])
def test_a_number_that_is_no_value_of_the_enum_is_kept(mode: str, number: int) -> None:
    """As jsonpb reads a proto3 enum: any int32, kept as that number (Istio's DestinationRule
    rules then see a mode that is none of the names, and say nothing)."""
    obj = _one(DR.format(mode=mode))
    assert obj.spec.traffic_policy.tls.mode == number
    assert obj.raw["spec"]["trafficPolicy"]["tls"]["mode"] == number


@pytest.mark.parametrize("mode", ["'1'", "1.5", "true", "2147483648", "'x7'"])
def test_what_jsonpb_refuses_for_an_enum_is_refused(mode: str) -> None:
    result = load(DR.format(mode=mode), "d.yaml")
    assert not result.ok
    (error, *_) = result.errors
    assert error.path == "spec.trafficPolicy.tls.mode"
    assert str(error).startswith(
        "d.yaml:7: DestinationRule default/d at spec.trafficPolicy.tls.mode"
    )
    assert "DISABLE" in error.message  # the values it may take are named


def test_enum_numbers_in_lists_and_on_the_checks_path() -> None:
    text = (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\n"
        "spec:\n  action: 1\n  rules: [{to: [{operation: {methods: [GET]}}]}]\n"
        "---\n"
        "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n"
        "spec:\n  metrics:\n  - providers: [{name: prometheus}]\n"
        "    overrides: [{match: {metric: 10, mode: 1}, disabled: true}]\n"
        "---\n"
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
        "spec:\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n"
        "    hosts: ['*']\n    tls: {mode: 4}\n"
    )
    result = load(text, "m.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    policy, telemetry, gateway = result.objects
    assert policy.spec.action == "DENY"
    match = telemetry.spec.metrics[0].overrides[0].match
    assert (match.metric, match.mode) == ("GRPC_RESPONSE_MESSAGES", "CLIENT")
    # ISTIO_MUTUAL is number 4: a Gateway's rules then forbid certificate files, and this has none
    assert gateway.spec.servers[0].tls.mode == "ISTIO_MUTUAL"


def test_a_kind_without_a_model_reads_enum_numbers_by_its_schema() -> None:
    text = (
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: w}\n"
        "spec:\n  url: oci://example.com/filter:1\n  phase: 2\n  failStrategy: 1\n"
        "  match: [{mode: 3}]\n"
    )
    result = load(text, "w.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    (doc,) = result.others
    spec = doc.data["spec"]
    assert (spec["phase"], spec["failStrategy"]) == ("AUTHZ", "FAIL_OPEN")
    assert spec["match"] == [{"mode": "CLIENT_AND_SERVER"}]
    kept = load(text.replace("phase: 2", "phase: 9"), "w.yaml")  # a number naming no phase
    assert kept.ok and kept.others[0].data["spec"]["phase"] == 9, kept.diagnostics
    bad = load(text.replace("phase: 2", "phase: AUTHX"), "w.yaml")
    (error,) = bad.errors
    assert (error.path, error.source.line) == ("spec.phase", 6)


# Enum numbers as istio/api's .proto files give them (every enum there counts from 0 in the
# order the CRD schemas list the values): one per enum with a deprecated or late value.
PROTO_NUMBERS = [
    ("DestinationRule", "trafficPolicy.loadBalancer.simple", 4, "ROUND_ROBIN"),
    ("DestinationRule", "trafficPolicy.connectionPool.http.h2UpgradePolicy", 2, "UPGRADE"),
    ("ServiceEntry", "resolution", 4, "DYNAMIC_DNS"),
    ("PeerAuthentication", "mtls.mode", 3, "STRICT"),
    ("AuthorizationPolicy", "action", 3, "CUSTOM"),
    ("Sidecar", "outboundTrafficPolicy.mode", 1, "ALLOW_ANY"),
]


def _schema_at(kind: str, path: str) -> dict[str, Any]:
    found = kind_schema(kind, "v1")
    assert found is not None
    schema = found[0]
    for key in path.split("."):
        schema = schema["properties"][key]
    return schema


@pytest.mark.parametrize(("kind", "path", "number", "name"), PROTO_NUMBERS)
def test_the_schema_lists_enum_values_in_protobuf_number_order(
    kind: str, path: str, number: int, name: str
) -> None:
    assert _schema_at(kind, path)["enum"][number] == name


def test_every_enum_of_the_schemas_is_a_string_the_reader_reaches() -> None:
    """enum_names walks properties, items and additionalProperties: an enum anywhere else (in a
    oneOf, or of another type) would not be read by number."""
    data = json.loads(
        resources.files("pilotfish.config.openapi").joinpath("crd_schemas.json").read_text()
    )
    reached: list[int] = []

    def walk(schema: Any, reachable: bool) -> None:
        if isinstance(schema, list):
            for item in schema:
                walk(item, False)
        if not isinstance(schema, dict):
            return
        if "enum" in schema:
            assert reachable and schema.get("type") == "string", schema
            reached.append(len(schema["enum"]))
        for key, value in schema.items():
            if key == "properties":
                for child in value.values():
                    walk(child, reachable)
            else:
                walk(value, reachable and key in ("items", "additionalProperties"))

    for schema in data["schemas"]:
        walk(schema, True)
    assert len(reached) > 30
