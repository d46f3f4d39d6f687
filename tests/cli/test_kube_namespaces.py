"""kubectl's namespaces, endpoints and `label` rules on the local mesh's objects (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.cli import kube_namespaces, kube_pods, kube_views
from pilotfish.cli.errors import UserError
from pilotfish.cli.implicit_objects import with_live_labels
from pilotfish.cli.kube_get import _table
from pilotfish.cli.label import edit_labels, namespace_document

INFO: dict[str, Any] = {
    "api": "http://127.9.0.1:15014",
    "ingress_address": "127.0.0.1",
    "control_plane_created": 1_700_000_000.0,
    "proxies": {
        f"httpbin-{i}.default": {
            "instance": f"httpbin-{i}",
            "workload": "httpbin",
            "namespace": "default",
            "type": "sidecar",
            "app": "httpbin",
            "ip": f"127.9.1.{i + 1}",
            "labels": {"app": "httpbin"},
            "ready": i != 4,  # one of five not ready
            "envoy_pid": 1,
            "app_pid": 2,
            "created": 1_700_000_000.0,
        }
        for i in range(5)
    }
    | {
        "sleep-0.foo": {
            "instance": "sleep-0",
            "workload": "sleep",
            "namespace": "foo",
            "type": "sidecar",
            "ip": "127.9.1.9",
            "labels": {"app": "sleep"},
            "ready": True,
            "envoy_pid": 1,
            "app_pid": 2,
        }
    },
}


def _service(name: str, ns: str, selector: dict[str, str], ports: list[Any]) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": selector, "ports": ports},
    }


def test_pods_have_host_and_pod_ips_as_kubectl_shows_them() -> None:
    pod = next(p for p in kube_pods.pods(INFO) if p["metadata"]["name"] == "httpbin-0")
    assert pod["status"]["hostIP"] == "127.0.0.1"  # the node: where the ingress accepts
    assert pod["status"]["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert pod["status"]["podIP"] == "127.9.1.1"
    assert pod["status"]["podIPs"] == [{"ip": "127.9.1.1"}]
    without_ingress = {k: v for k, v in INFO.items() if k != "ingress_address"}
    assert kube_pods.node_address(without_ingress) == "127.9.0.1"


def test_namespaces_are_those_with_pods_config_or_a_namespace_document() -> None:
    docs = [
        {"kind": "VirtualService", "metadata": {"name": "r", "namespace": "bar"}},
        {
            "kind": "Namespace",
            "metadata": {"name": "baz", "labels": {"istio-injection": "enabled"}},
        },
    ]
    found = kube_namespaces.namespaces(INFO, docs, kube_pods.pods(INFO))
    names = [n["metadata"]["name"] for n in found]
    assert names == ["bar", "baz", "default", "foo", "istio-system"]
    baz = found[1]
    assert baz["metadata"]["labels"] == {
        "kubernetes.io/metadata.name": "baz",
        "istio-injection": "enabled",
    }
    assert baz["status"] == {"phase": "Active"} and "namespace" not in baz["metadata"]
    table = _table("ns", found, 1_700_000_090.0, "", False, False, (False, ["istio-injection"]))
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE", "ISTIO-INJECTION"]
    assert lines[2].split() == ["baz", "Active", "90s", "enabled"]
    shown = _table("ns", found[:1], 1_700_000_090.0, "", False, False, (True, []))
    assert shown.splitlines()[1].split()[-1] == (  # never created: local mode's implicit label
        "istio-injection=enabled,kubernetes.io/metadata.name=bar"
    )


def test_a_namespace_shows_local_modes_implicit_injection_until_it_is_created() -> None:
    """A namespace with no `Namespace` document counts as `istio-injection=enabled`
    (`registry.injection`) and shows it, so `get ns NS -o yaml | apply -f -` keeps it; one
    created or labelled explicitly shows its own labels alone."""
    docs = [
        {"kind": "VirtualService", "metadata": {"name": "r", "namespace": "bar"}},
        {"kind": "Namespace", "metadata": {"name": "legacy"}},
        {"kind": "Namespace", "metadata": {"name": "off", "labels": {"istio-injection": "x"}}},
    ]
    labels = {
        n["metadata"]["name"]: n["metadata"]["labels"]
        for n in kube_namespaces.namespaces(INFO, docs, kube_pods.pods(INFO))
    }
    name = "kubernetes.io/metadata.name"
    for implicit in ("bar", "default", "foo", "istio-system"):
        assert labels[implicit] == {name: implicit, "istio-injection": "enabled"}, implicit
    assert labels["legacy"] == {name: "legacy"}
    assert labels["off"] == {name: "off", "istio-injection": "x"}


def test_an_applied_implicit_namespace_keeps_the_live_labels_it_leaves_out() -> None:
    """kubectl's apply merges into an object that exists: the implicit label stays, what the
    document says is kept, a file without such a namespace is sent as it is."""
    text = "kind: Namespace\napiVersion: v1\nmetadata:\n  name: default  # mine\n"
    other = "apiVersion: v1\nkind: Namespace\nmetadata: {name: new}\n"
    listed = (
        '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": '
        '"Namespace", "metadata": {"name": "bar", "labels": {"istio-injection": "disabled"}}}]}'
    )
    implicit = {"namespace/default", "namespace/bar", "serviceaccount/default"}
    found = with_live_labels([("a", text), ("b", other), ("c", listed)], implicit)
    assert found[0] == (
        "a",
        "kind: Namespace\napiVersion: v1\nmetadata:\n  name: default  # mine\n"
        "  labels:\n    istio-injection: enabled\n",
    )
    assert found[1:] == [("b", other), ("c", listed)]  # not implicit; says the label itself


def test_endpoints_select_ready_pods_of_the_namespace_at_target_ports() -> None:
    services = [
        _service(
            "httpbin",
            "default",
            {"app": "httpbin"},
            [
                {"name": "http", "port": 8000, "targetPort": 8080},
                {"name": "admin", "port": 9000},
            ],
        ),
        _service("sleep", "default", {"app": "sleep"}, [{"port": 80}]),  # sleep runs in foo
        _service("ext", "default", {}, [{"port": 80}]),
    ]
    found = kube_namespaces.endpoints(services, kube_pods.pods(INFO))
    httpbin, sleep, ext = found
    subset = httpbin["subsets"][0]
    assert [a["ip"] for a in subset["addresses"]] == [f"127.9.1.{i}" for i in range(1, 5)]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.9.1.5"]
    assert subset["addresses"][0]["targetRef"] == {
        "kind": "Pod",
        "name": "httpbin-0",
        "namespace": "default",
    }
    assert subset["ports"] == [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "admin", "port": 9000, "protocol": "TCP"},
    ]
    # kubectl's column: three ip:port, then how many more (4 ready x 2 ports = 8)
    assert kube_namespaces.endpoint_list(httpbin) == (
        "127.9.1.1:8080,127.9.1.2:8080,127.9.1.3:8080 + 5 more..."
    )
    assert "subsets" not in sleep and kube_namespaces.endpoint_list(sleep) == "<none>"
    assert kube_namespaces.endpoint_list(ext) == "<none>"


def test_ingress_service_ports_are_node_ports() -> None:
    gateways = [
        {"spec": {"selector": {"istio": "ingressgateway"},
                  "servers": [{"port": {"number": 8080, "protocol": "HTTP"}}]}}
    ]  # fmt: skip
    info = INFO | {
        "proxies": {"gw": {"workload": "istio-ingressgateway", "ip": "127.9.0.2"}},
    }
    svc = next(
        s
        for s in kube_views.services(info, [], gateways)
        if s["metadata"]["name"] == "istio-ingressgateway"
    )
    assert svc["spec"]["ports"] == [
        {"name": "http2", "port": 8080, "targetPort": 8080, "protocol": "TCP", "nodePort": 8080}
    ]


def test_label_rules_are_kubectls() -> None:
    labels, verdict, warnings = edit_labels({}, ["istio-injection=enabled"], False)
    assert (labels, verdict, warnings) == ({"istio-injection": "enabled"}, "labeled", [])
    assert edit_labels(labels, ["istio-injection=enabled"], False)[1] == "not labeled"
    with pytest.raises(UserError, match=r"already has a value \(enabled\), and --overwrite"):
        edit_labels(labels, ["istio-injection=disabled"], False)
    changed = edit_labels(labels, ["istio-injection=disabled"], True)
    assert changed[:2] == ({"istio-injection": "disabled"}, "labeled")
    assert edit_labels(labels, ["istio-injection-"], False)[:2] == ({}, "unlabeled")
    assert edit_labels({}, ["gone-"], False) == ({}, "not labeled", ['label "gone" not found.'])
    with pytest.raises(UserError, match="invalid label spec: oops"):
        edit_labels({}, ["oops"], False)


def test_namespace_document_drops_the_name_label() -> None:
    doc = namespace_document("foo", {"kubernetes.io/metadata.name": "foo", "a": "b"})
    meta = {"name": "foo", "labels": {"a": "b"}}
    assert doc == {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def test_istiod_service_is_istios_chart_and_its_endpoints_the_control_plane() -> None:
    """Istio's istio-discovery chart: 15010 plaintext xDS, 15012 xDS and CA over TLS, 443 the
    webhooks (target 15017), 15014 metrics; selected by `app: istiod, istio: pilot`."""
    istiod = kube_views.services(INFO, [], [])[0]
    assert istiod["metadata"]["name"] == "istiod"
    assert istiod["metadata"]["labels"]["istio"] == "pilot"
    assert istiod["metadata"]["labels"]["operator.istio.io/component"] == "Pilot"
    spec = istiod["spec"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [
        ("grpc-xds", 15010, 15010),
        ("https-dns", 15012, 15012),
        ("https-webhook", 443, 15017),
        ("http-monitoring", 15014, 15014),
    ]
    assert spec["selector"] == {"app": "istiod", "istio": "pilot"}
    assert spec["clusterIPs"] == [spec["clusterIP"]] == ["127.9.0.1"]
    assert spec["sessionAffinity"] == "None" and istiod["status"] == {"loadBalancer": {}}
    row = _table("svc", [istiod], 0.0, "", False, False).splitlines()[1].split()
    assert row[4] == "15010/TCP,15012/TCP,443/TCP,15014/TCP"
    (found,) = kube_namespaces.endpoints([istiod], kube_pods.pods(INFO))
    subset = found["subsets"][0]  # the pod is not ready here: no control plane pid in INFO
    assert [p["port"] for p in subset["ports"]] == [15010, 15012, 15017, 15014]
    assert subset["notReadyAddresses"][0]["targetRef"]["name"] == "istiod-0"
