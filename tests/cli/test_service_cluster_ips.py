"""`get svc`'s CLUSTER-IP and PORT(S) as kubectl prints them: a Service's virtual address where
the mesh gives one (the isolated mode's, the same the pods dial), `None` for a headless one,
and `PORT:NODEPORT/PROTO` for a port with a node port (the ingress gateway's LoadBalancer)."""

from __future__ import annotations

from typing import Any

from pilotfish.cli import kube_views
from pilotfish.cli.kube_get import _table

INFO = {
    "api": "http://10.7.0.1:15014",
    "ingress_address": "10.7.0.2",
    "proxies": {"istio-ingressgateway-0.istio-system": {"workload": "istio-ingressgateway",
                                                         "ip": "10.7.0.2"}},
}  # fmt: skip
VIPS = {
    "web.shop.svc.cluster.local": "10.7.241.9",
    "web.default.svc.cluster.local": "10.7.243.1",
}


def service(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 8000, "targetPort": 8080}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": ports, **spec},
    }


def test_cluster_ip_is_the_services_virtual_address_headless_stays_none() -> None:
    docs = [
        service("web", "shop"),
        service("db", "shop", clusterIP="None"),
        service("ext", "shop", type="ExternalName", externalName="example.com"),
        service("web", "other"),
    ]
    shown = kube_views.services(INFO, docs, [], VIPS)
    by_name = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in shown}
    assert by_name["shop", "web"]["spec"]["clusterIP"] == "10.7.241.9"
    assert by_name["shop", "db"]["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in by_name["shop", "ext"]["spec"]
    assert by_name["other", "web"]["spec"]["clusterIP"] == "None"  # no address for it
    table = _table("svc", shown, 0.0, "", False, False).splitlines()
    rows = {tuple(line.split()[:3]) for line in table[1:]}
    assert ("web", "ClusterIP", "10.7.241.9") in rows and ("db", "ClusterIP", "None") in rows
    without = kube_views.services(INFO, [service("web", "shop")], [])
    assert without[-1]["spec"]["clusterIP"] == "None"  # a mesh without VIPs


def test_a_port_with_a_node_port_reads_port_colon_node_port() -> None:
    gateway = {"spec": {"servers": [{"port": {"number": 80, "protocol": "HTTP"}}]}}
    shown = kube_views.services(INFO, [service("web", "shop")], [gateway], VIPS)
    table = _table("svc", shown, 0.0, "", False, False).splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["istio-ingressgateway"][1:5] == [
        "LoadBalancer",
        "10.7.0.2",
        "10.7.0.2",
        "80:80/TCP",
    ]
    assert rows["web"][4] == "8000/TCP"
