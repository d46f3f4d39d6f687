"""What Istio's gateway controller derives from a Gateway of class `istio`: the objects of its
automated deployment (`<name>-istio`, owned by the Gateway) and the status `get` shows (address,
`Accepted`, `Programmed`, attached routes), and the table kubectl prints from it."""

from __future__ import annotations

import time
from typing import Any

from pilotfish.cli.kube_views import gateway_api_columns
from pilotfish.config.gateway_api.deployment import deployment_documents, owned_keys
from pilotfish.config.gateway_api.status import Pod, with_status
from pilotfish.config.load import load

DOCS = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
  namespace: shop
  creationTimestamp: "2026-12-01T10:00:00Z"
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: other, port: 8080, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: manual, namespace: shop}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: istio-ingressgateway}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: foreign, namespace: shop}
spec:
  gatewayClassName: someone-else
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bookinfo, namespace: shop}
spec:
  parentRefs: [{name: bookinfo-gateway, sectionName: http}]
"""


def docs() -> list[dict[str, Any]]:
    result = load(DOCS, "gw.yaml")
    assert result.ok, [str(d) for d in result.errors]
    return [d.data for d in result.others]


def test_automated_deployment_objects() -> None:
    found = deployment_documents(docs()[0])
    assert [(d["kind"], d["metadata"]["name"]) for d in found] == [
        ("ServiceAccount", "bookinfo-gateway-istio"),
        ("Service", "bookinfo-gateway-istio"),
        ("Workload", "bookinfo-gateway-istio"),
    ]
    service = found[1]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["selector"] == {
        "gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"
    }
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [
        ("status-port", 15021),
        ("http", 80),
        ("other", 8080),
    ]
    assert found[2]["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == (
        "bookinfo-gateway"
    )
    assert all(d["metadata"]["ownerReferences"][0]["kind"] == "Gateway" for d in found)
    assert deployment_documents(docs()[1]) == []  # manual deployment: spec.addresses
    assert deployment_documents(docs()[2]) == []  # not Istio's class


def test_deleting_a_gateway_deletes_what_it_owns() -> None:
    owned = deployment_documents(docs()[0])
    keys = owned_keys([("gateway.networking.k8s.io", "Gateway", "shop", "bookinfo-gateway")], owned)
    assert sorted(keys) == [
        ("", "Service", "shop", "bookinfo-gateway-istio"),
        ("", "ServiceAccount", "shop", "bookinfo-gateway-istio"),
        ("pilotfish.io", "Workload", "shop", "bookinfo-gateway-istio"),
    ]
    assert owned_keys([("networking.istio.io", "Gateway", "shop", "bookinfo-gateway")], owned) == []


def conditions(doc: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in doc["status"]["conditions"]}


def test_status_programmed_once_its_pod_is_ready() -> None:
    labels = (("gateway.networking.k8s.io/gateway-name", "bookinfo-gateway"),)
    starting = [Pod("shop", "127.1.2.3", labels, ready=False)]
    shown = {d["metadata"]["name"]: d for d in with_status(docs(), starting, "gateway")}
    gateway = shown["bookinfo-gateway"]
    assert conditions(gateway) == {"Accepted": "True", "Programmed": "False"}
    assert "addresses" not in gateway["status"]
    assert "status" not in shown["foreign"]  # not Istio's to write
    ready = [Pod("shop", "127.1.2.3", labels, ready=True), Pod("other", "127.9.9.9", labels, True)]
    gateway = {d["metadata"]["name"]: d for d in with_status(docs(), ready, "gateway")}[
        "bookinfo-gateway"
    ]
    assert conditions(gateway) == {"Accepted": "True", "Programmed": "True"}
    assert gateway["status"]["addresses"] == [{"type": "IPAddress", "value": "127.1.2.3"}]
    attached = {ls["name"]: ls["attachedRoutes"] for ls in gateway["status"]["listeners"]}
    assert attached == {"http": 1, "other": 0}
    row = gateway_api_columns("Gateway", gateway, time.time())
    assert [v for _, v in row[:3]] == ["istio", "127.1.2.3", "True"]
    classes = [d for d in with_status(docs(), [], "gatewayclass") if d["kind"] == "GatewayClass"]
    assert [(d["metadata"]["name"], conditions(d)) for d in classes] == [
        ("istio", {"Accepted": "True"})
    ]


def test_route_status_per_parent() -> None:
    route = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs:
  - {name: bookinfo-gateway}
  - {name: nowhere}
  - {group: "", kind: Service, name: reviews, port: 9080}
  rules:
  - backendRefs: [{name: reviews, port: 9080}, {name: gone, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  ports: [{port: 9080, name: http}]
"""
    result = load(DOCS + "---\n" + route, "r.yaml")
    assert result.ok, [str(d) for d in result.errors]
    shown = with_status([d.data for d in result.others], [], "httproute")
    parents = next(d for d in shown if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == "r")[
        "status"
    ]["parents"]
    assert [conditions_of(p)["Accepted"] for p in parents] == ["True", "False", "True"]
    assert parents[1]["conditions"][0]["message"] == 'parent gateway: "nowhere" not found'
    resolved = parents[0]["conditions"][1]
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")
    assert resolved["message"] == "backend(gone.shop.svc.cluster.local) not found"
    assert parents[2]["parentRef"] == {
        "group": "",
        "kind": "Service",
        "name": "reviews",
        "port": 9080,
    }


def conditions_of(doc: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in doc["conditions"]}
