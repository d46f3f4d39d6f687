"""`-o jsonpath=…` prints what kubectl prints, byte for byte (kubectl's outputs in comments)."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.cli.jsonpath import JsonPathError, render

PODS = {
    "kind": "List",
    "items": [
        {
            "metadata": {"name": "sleep-0", "namespace": "foo", "labels": {"app": "sleep"}},
            "spec": {"containers": [{"name": "sleep"}, {"name": "istio-proxy"}]},
            "status": {"podIP": "127.9.0.5", "phase": "Running"},
        },
        {
            "metadata": {"name": "httpbin-0", "namespace": "bar", "labels": {"app": "httpbin"}},
            "spec": {"containers": [{"name": "httpbin"}]},
            "status": {"podIP": "127.9.0.6", "phase": "Running"},
        },
    ],
}


def test_values_of_one_expression_are_joined_by_a_space_with_no_newline() -> None:
    # kubectl get pods -o jsonpath='{.items[*].metadata.name}'  ->  "sleep-0 httpbin-0" (no \n)
    assert render(PODS, "{.items[*].metadata.name}") == "sleep-0 httpbin-0"
    assert render(PODS, "{.items[0].metadata.name}") == "sleep-0"
    assert render(PODS, "{.items..metadata.name}") == "sleep-0 httpbin-0"


def test_several_expressions_and_text_are_concatenated_as_written() -> None:
    # kubectl: '{.items[0].metadata.name}{.items[1].metadata.name}' -> "sleep-0httpbin-0"
    assert render(PODS, "{.items[0].metadata.name}{.items[1].metadata.name}") == "sleep-0httpbin-0"
    assert render(PODS, "name={.items[0].metadata.name} ip={.items[0].status.podIP}\n") == (
        "name=sleep-0 ip=127.9.0.5\n"
    )


def test_range_with_string_literals() -> None:
    template = '{range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}'
    assert render(PODS, template) == "sleep-0\t127.9.0.5\nhttpbin-0\t127.9.0.6\n"
    nested = (
        '{range .items[*]}{.metadata.name}:{range .spec.containers[*]} {.name}{end}{"\\n"}{end}'
    )
    assert render(PODS, nested) == "sleep-0: sleep istio-proxy\nhttpbin-0: httpbin\n"
    assert render(PODS, '{range .items}{.metadata.namespace}{","}{end}') == "foo,bar,"


def test_filters_maps_and_missing_keys() -> None:
    svc = {"spec": {"ports": [{"name": "http2", "port": 80}, {"name": "https", "port": 443}]}}
    assert render(svc, '{.spec.ports[?(@.name=="http2")].port}') == "80"
    assert render(svc, "{.spec.ports[?(@.name=='https')].port}") == "443"
    # maps and lists print as compact JSON, as kubectl does
    assert render(PODS, "{.items[0].metadata.labels}") == '{"app":"sleep"}'
    assert render(svc, "{.spec.ports[1]}") == '{"name":"https","port":443}'
    # a missing key prints nothing (kubectl's --allow-missing-template-keys=true)
    assert render(PODS, "{.items[0].metadata.annotations}") == ""
    assert render({"a": True}, "{.a}") == "true"


def test_unbalanced_range_is_an_error() -> None:
    with pytest.raises(JsonPathError):
        render(PODS, "{range .items[*]}{.metadata.name}")
    with pytest.raises(JsonPathError):
        render(PODS, "{.items[0].metadata.name}{end}")


def test_get_prints_jsonpath_as_kubectl(capsys: Any) -> None:
    """`get KIND -o jsonpath=…` for config kinds as for pods: no newline added; 1 when bad."""
    from pilotfish.cli.get_output import print_object as print_jsonpath

    payload = {"kind": "List", "items": [{"metadata": {"name": "istio"}, "data": {"mesh": "x"}}]}
    assert print_jsonpath(payload, "jsonpath={.items[0].data.mesh}") == 0
    assert capsys.readouterr().out == "x"
    assert print_jsonpath(payload, "jsonpath={range .items[*]}x") == 1
    assert "error parsing jsonpath" in capsys.readouterr().err


def test_keys_with_dots_are_escaped_or_quoted() -> None:
    """kubectl's `{.data.root-cert\\.pem}` (Istio's docs) and `{.data['root-cert.pem']}`."""
    cm = {"data": {"root-cert.pem": "PEM", "root-cert": {"pem": "nested"}}}
    assert render(cm, "{.data.root-cert\\.pem}") == "PEM"
    assert render(cm, "{.data['root-cert.pem']}") == "PEM"
    assert render(cm, '{.data["root-cert.pem"]}') == "PEM"
    assert render(cm, "{.data.root-cert.pem}") == "nested"
