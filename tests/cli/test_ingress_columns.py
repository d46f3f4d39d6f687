"""`get ingress` and `get ingressclass` columns as kubectl prints them (its printers' rules:
hosts, `+ N more...`, `*`, ports with TLS, the load balancer's address cut at 16 characters)."""

from __future__ import annotations

from typing import Any

from pilotfish.cli.kube_views import ingress_columns


def row(spec: dict[str, Any], status: dict[str, Any] | None = None) -> list[str]:
    doc = {"spec": spec, "status": status or {}}
    return [v for _, v in ingress_columns("Ingress", doc, 0.0)][:4]


def test_ingress_columns_as_kubectl() -> None:
    assert [h for h, _ in ingress_columns("Ingress", {}, 0.0)] == [
        "CLASS",
        "HOSTS",
        "ADDRESS",
        "PORTS",
        "AGE",
    ]
    assert row({}) == ["<none>", "*", "", "80"]
    assert row({"ingressClassName": "istio", "rules": [{}], "tls": [{}]}) == [
        "istio",
        "*",
        "",
        "80, 443",
    ]
    hosts = [{}, {"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d"}]
    assert row({"rules": hosts})[1] == "a,b,c + 2 more..."
    assert row({"rules": hosts[:4]})[1] == "a,b,c"
    balancer = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example"}]}}
    assert row({}, balancer)[2] == "10.0.0.1,lb.e..."
    assert row({}, {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}})[2] == "127.0.0.1"


def test_ingressclass_columns_as_kubectl() -> None:
    plain = {"spec": {"controller": "istio.io/ingress-controller"}}
    assert ingress_columns("IngressClass", plain, 0.0)[:2] == [
        ("CONTROLLER", "istio.io/ingress-controller"),
        ("PARAMETERS", "<none>"),
    ]
    params = {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}
    with_params = {"spec": {"controller": "x", "parameters": params}}
    shown = ingress_columns("IngressClass", with_params, 0.0)[1]
    assert shown == ("PARAMETERS", "IngressParameters.k8s.example.com/p")
