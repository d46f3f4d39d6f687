"""`pilotfish describe`'s pure core on Istio's Bookinfo: the mesh view is built from the same
JSON shapes the control plane serves (stored documents, `/debug/registryz`, `/debug/syncz`),
with the samples' real YAML, and the report is read as a user reads it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pilotfish.cli.describe.mesh_view import MeshView, mesh_view
from pilotfish.cli.describe.report import describe_report
from pilotfish.config.yaml_text import parse_yaml
from pilotfish.registry.inputs import parse_documents

ROOT = Path(__file__).resolve().parents[2]
BOOKINFO = ROOT / "samples" / "bookinfo"
NET = BOOKINFO / "networking"
INGRESS = "127.255.9.9"
SYNCED = {"sent_version": "v1", "sent_nonce": "1", "acked_version": "v1", "last_nack": None}
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


def _documents(*texts: str) -> list[dict[str, Any]]:
    docs = []
    for text in texts:
        parsed, problems = parse_yaml(text, "<test>")
        assert not problems, problems
        docs += [d.data for d in parsed]
    return docs


def _registryz(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """What `/debug/registryz` answers for these manifest documents (one address per instance)."""
    from pilotfish.config.yaml_text import dump_yaml

    _raws, parsed = parse_documents([("<manifest>", dump_yaml(documents))])
    services = [dataclasses.asdict(s) | {"hostname": s.hostname} for s in parsed.manifest.services]
    instances = []
    for n, workload in enumerate(parsed.manifest.workloads):
        for name in workload.instance_names():
            instances.append(
                {
                    "name": name,
                    "workload": workload.name,
                    "namespace": workload.namespace,
                    "address": f"127.9.1.{n + 1}",
                    "labels": [list(pair) for pair in workload.labels],
                    "service_account": workload.service_account,
                    "ports": list(workload.ports),
                    "ready": True,
                    "port_map": [],
                }
            )
    result: dict[str, Any] = json.loads(json.dumps({"services": services, "instances": instances}))
    return result


def _syncz(instances: list[dict[str, Any]], **types: dict[str, Any]) -> dict[str, Any]:
    gateway = {
        "node_id": "router~127.9.0.2~istio-ingressgateway-0.istio-system~istio-system.svc",
        "types": [{"type_url": CDS, **SYNCED}],
        "latest": {CDS: "v1"},
        "proxy": {
            "labels": [["app", "istio-ingressgateway"], ["istio", "ingressgateway"]],
            "gateway_address": INGRESS,
        },
    }
    rows = [gateway]
    for i in instances:
        node = f"sidecar~{i['address']}~{i['name']}.{i['namespace']}~{i['namespace']}.svc"
        row = types.get(i["name"], {"type_url": CDS, **SYNCED})
        rows.append({"node_id": node, "types": [row], "latest": {CDS: "v1"}, "proxy": {}})
    return {"proxies": rows}


def bookinfo(*rule_files: str, extra: str = "", **types: dict[str, Any]) -> MeshView:
    manifest = _documents((BOOKINFO / "bookinfo.yaml").read_text())
    istio = _documents(
        (BOOKINFO / "bookinfo-gateway.yaml").read_text(),
        *((NET / f).read_text() for f in rule_files),
        extra,
    )
    registryz = _registryz(manifest)
    return mesh_view(manifest + istio, registryz, _syncz(registryz["instances"], **types), INGRESS)


def report(view: MeshView, kind: str, name: str) -> list[str]:
    lines, code = describe_report(view, kind, name)
    assert code == 0, lines
    return lines


def section(lines: list[str], start: str) -> list[str]:
    """The lines from the first one starting with `start` up to the next top-level line."""
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    rest = lines[first + 1 :]
    end = next((i for i, line in enumerate(rest) if not line.startswith(" ")), len(rest))
    return [lines[first], *rest[:end]]


def test_pod_without_rules_shows_labels_service_and_sync() -> None:
    lines = report(bookinfo(), "pod", "reviews-v2-0")
    assert lines[0] == "Pod: reviews-v2-0"
    assert "   Labels: app=reviews, version=v2" in lines
    assert "   Pod Ports: 9080 (reviews), 15090 (istio-proxy)" in lines  # as istioctl's
    assert (
        "   Sidecar sync: CDS SYNCED, LDS NOT SENT, EDS NOT SENT, RDS NOT SENT, ECDS NOT SENT"
        in lines
    )
    assert section(lines, "Service: reviews") == [
        "Service: reviews",
        "   Port: http 9080/HTTP targets pod port 9080",
    ]
    assert not any(
        line.startswith(("DestinationRule", "VirtualService", "Exposed")) for line in lines
    )


def test_all_v1_routes_every_request_to_v1_and_none_to_v2() -> None:
    view = bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    v1 = report(view, "pod", "reviews-v1")
    assert section(v1, "DestinationRule") == [
        'DestinationRule: reviews for "reviews"',
        "   Matching subsets: v1",
        "      (Non-matching subsets v2,v3)",
        "   No Traffic Policy",
    ]
    assert section(v1, "VirtualService") == ["VirtualService: reviews", "   1 HTTP route(s)"]
    v2 = report(view, "pod", "reviews-v2")
    assert section(v2, "VirtualService") == [
        "VirtualService: reviews",
        "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)",
        "      Route to non-matching subset v1 for (everything)",
    ]


def test_jason_goes_to_v2_everyone_else_to_v3_and_nobody_to_v1() -> None:
    view = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-jason-v2-v3.yaml")
    assert section(report(view, "pod", "reviews-v2"), "VirtualService") == [
        "VirtualService: reviews",
        '   Route to host "reviews" subset "v2" with headers end-user=jason',
        "   1 additional destination(s) that will not reach this pod",
    ]
    assert section(report(view, "pod", "reviews-v3"), "VirtualService") == [
        "VirtualService: reviews",
        "   1 additional destination(s) that will not reach this pod",
        "      Route to non-matching subset v2 for (when headers are end-user=jason)",
    ]
    v1 = section(report(view, "pod", "reviews-v1"), "VirtualService")
    assert v1[1] == "   WARNING: No destinations match pod subsets (checked 2 HTTP routes)"


def test_80_20_split_gives_each_pod_its_weight() -> None:
    view = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-80-20.yaml")
    assert section(report(view, "pod", "reviews-v1-0"), "VirtualService")[1:] == ["   Weight 80%"]
    assert section(report(view, "pod", "reviews-v2-0"), "VirtualService")[1:] == ["   Weight 20%"]
    v3 = section(report(view, "pod", "reviews-v3-0"), "VirtualService")
    assert "checked 1 HTTP routes" in v3[1]
    service = report(view, "svc", "reviews")
    assert "   Pods: reviews-v1-0, reviews-v2-0, reviews-v3-0" in service
    assert section(service, "DestinationRule")[1] == "   Matching subsets: v1,v2,v3"
    assert section(service, "VirtualService")[1:] == [
        '   Route to host "reviews" subset "v1" with weight 80%',
        '   Route to host "reviews" subset "v2" with weight 20%',
    ]


def test_route_to_a_subset_without_destination_rule_is_flagged() -> None:
    lines = report(bookinfo("virtual-service-all-v1.yaml"), "pod", "reviews-v1")
    assert section(lines, "VirtualService")[2] == (
        "      Warning: Route to subset v1 but NO DESTINATION RULE defining subsets!"
    )


def test_fault_injection_and_traffic_policy_are_summarised() -> None:
    policy = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {tcp: {maxConnections: 1}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s}
    tls: {mode: SIMPLE}
  subsets:
  - {name: v1, labels: {version: v1}}
"""
    view = bookinfo("virtual-service-ratings-test-delay.yaml", extra=policy)
    lines = report(view, "pod", "ratings-v1")
    assert section(lines, "DestinationRule")[1:] == [
        "   Matching subsets: v1",
        "   Traffic Policy TLS Mode: SIMPLE",
        "   Policies: load balancer/connection pool/outlier detection",
        "      load balancer: simple=LEAST_REQUEST",
        "      connection pool: tcp.maxConnections=1",
        "      outlier detection: consecutive5xxErrors=1, interval=1s",
    ]
    assert section(lines, "VirtualService")[1:] == [
        '   Route to host "ratings" subset "v1" with headers end-user=jason',
        "   Fault injection: delay 7s (100%)",
    ]


def test_root_namespace_rule_applies_unless_the_service_namespace_has_one() -> None:
    root = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mesh-default, namespace: istio-system}
spec: {host: "*.svc.cluster.local", trafficPolicy: {tls: {mode: DISABLE}}}
"""
    view = bookinfo(extra=root)
    first = section(report(view, "pod", "details-v1"), "DestinationRule")[0]
    assert first == 'DestinationRule: mesh-default.istio-system for "*.svc.cluster.local"'
    view = bookinfo("destination-rule-all.yaml", extra=root)
    first = section(report(view, "pod", "details-v1"), "DestinationRule")[0]
    assert first == 'DestinationRule: details for "details"'


def test_productpage_is_exposed_through_the_ingress_gateway() -> None:
    lines = report(bookinfo(), "pod", "productpage-v1-0")
    exposed = lines[lines.index(f"Exposed on Ingress Gateway http://{INGRESS}:8080") :]
    assert exposed[1:3] == ["VirtualService: bookinfo", "   Gateway: bookinfo-gateway"]
    assert exposed[3].startswith('   Route to host "productpage" with uri /productpage or ')
    assert not any("Exposed" in line for line in report(bookinfo(), "pod", "reviews-v1-0"))


def test_unsynced_or_missing_sidecars_are_warned_about() -> None:
    nack: dict[str, Any] = {"type_url": CDS, **SYNCED, "acked_version": "v0"}
    nack["last_nack"] = {"nonce": "1", "error_message": "bad cluster"}
    lines = report(bookinfo(**{"details-v1-0": nack}), "pod", "details-v1")  # type: ignore[arg-type]  # mypy: ** may bind `extra`
    assert (
        "   Sidecar sync: CDS NACKED, LDS NOT SENT, EDS NOT SENT, RDS NOT SENT, ECDS NOT SENT"
        in lines
    )
    assert "WARNING: details-v1-0 sidecar Cluster NACK: bad cluster" in lines
    view = bookinfo()
    view = dataclasses.replace(view, proxies=view.routers())
    lines = report(view, "pod", "details-v1-0")
    assert "WARNING: details-v1-0 sidecar is not connected to the control plane" in lines


@pytest.mark.parametrize(
    ("kind", "name", "code", "first"),
    [
        ("po", "reviews-v3", 0, "Pod: reviews-v3-0"),
        ("pod", "reviews-v3-0.default", 0, "Pod: reviews-v3-0"),
        ("svc", "ratings.default", 0, "Service: ratings"),
        ("service", "ratings.default.svc.cluster.local", 0, "Service: ratings"),
        ("pod", "reviews-v9", 1, 'Error: pods "reviews-v9" not found'),
        ("pod", "reviews-v3.other", 1, 'Error: pods "reviews-v3.other" not found'),
        ("svc", "nope", 1, 'Error: services "nope" not found'),
        ("deployment", "x", 2, 'Error: unknown resource type "deployment" (use pod or service)'),
    ],
)
def test_names_and_errors(kind: str, name: str, code: int, first: str) -> None:
    lines, got = describe_report(bookinfo(), kind, name)
    assert (got, lines[0]) == (code, first)


SPLIT_AND_TCP = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v9}, weight: 50}
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 0}
  tcp:
  - match: [{port: 9080}]
    route: [{destination: {host: reviews, subset: v2}}]
"""


def test_unknown_subsets_zero_weights_and_tcp_routes() -> None:
    view = bookinfo("destination-rule-all.yaml", extra=SPLIT_AND_TCP)
    assert section(report(view, "pod", "reviews-v1"), "VirtualService")[1:] == [
        "   Weight 50%",
        "   1 additional destination(s) that will not reach this pod",
    ]
    assert section(report(view, "pod", "reviews-v2"), "VirtualService")[1:] == [
        '   Route to host "reviews" subset "v2" with port 9080',
        "   1 additional destination(s) that will not reach this pod",
    ]
    assert section(report(view, "pod", "reviews-v3"), "VirtualService")[1:] == [
        "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)",
        "   WARNING: No destinations match pod subsets (checked 1 TCP routes)",
        "      Warning: Route to UNKNOWN subset v9; check DestinationRule reviews",
        "      Route to non-matching subset v1 for (everything)",
        "      Route to non-matching subset v2 for (everything)",
        "      Route to non-matching subset v2 for (port 9080)",
    ]


def test_namespace_option_and_services_of_another_namespace() -> None:
    lines, code = describe_report(bookinfo(), "svc", "ratings", "default")
    assert (code, lines[0]) == (0, "Service: ratings")
    lines, code = describe_report(bookinfo(), "svc", "ratings", "other")
    assert code == 1


def test_pod_shows_the_effective_mtls_mode_of_every_port() -> None:
    policies = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  mtls: {mode: UNSET}
  portLevelMtls: {"9080": {mode: DISABLE}}
"""
    default = report(bookinfo(), "pod", "ratings-v1-0")
    assert section(default, "Effective PeerAuthentication") == [
        "Effective PeerAuthentication:",
        "   Workload mTLS mode: PERMISSIVE",
        "   Pod ports: 9080 PERMISSIVE",
    ]
    assert any(line.startswith("NOTE: local mode: the app also listens") for line in default)
    strict = report(bookinfo(extra=policies), "pod", "ratings-v1-0")
    assert "   Pod ports: 9080 STRICT" in strict
    assert section(strict, "Applied PeerAuthentication") == [
        "Applied PeerAuthentication:",
        "   default.default",
    ]
    reviews = report(bookinfo(extra=policies), "pod", "reviews-v1-0")
    assert section(reviews, "Effective PeerAuthentication") == [
        "Effective PeerAuthentication:",
        "   Workload mTLS mode: STRICT",
        "   Port Level mTLS mode:",
        "      9080: DISABLE",
        "   Pod ports: 9080 DISABLE",
    ]


def test_tcp_service_on_the_ingress_gateway_is_served_by_it() -> None:
    """Issue 8 item 10: tcp-echo exposed on 31400 (Istio's TCP traffic shifting task)."""
    tcp_echo = ROOT / "samples" / "tcp-echo"
    manifest = _documents((tcp_echo / "tcp-echo-services.yaml").read_text())
    istio = _documents((tcp_echo / "tcp-echo-all-v1.yaml").read_text())
    registryz = _registryz(manifest)
    view = mesh_view(manifest + istio, registryz, _syncz(registryz["instances"]), INGRESS)
    lines = report(view, "svc", "tcp-echo")
    assert f"Exposed on Ingress Gateway tcp://{INGRESS}:31400" in lines, lines
    assert not any("no gateway proxy" in line for line in lines), lines


AUTHZ = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: istio-system}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/bookinfo-reviews]}}]
    to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-post
  namespace: default
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules:
  - to: [{operation: {methods: [POST]}}]
  - to: [{operation: {methods: [PUT]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: CUSTOM
  provider: {name: my-authz}
  rules:
  - to: [{operation: {paths: [/admin]}}]
"""


def test_pod_lists_the_authorization_policies_that_apply_to_it() -> None:
    view = bookinfo(extra=AUTHZ)
    assert section(report(view, "pod", "ratings-v1-0"), "Applied AuthorizationPolicy") == [
        "Applied AuthorizationPolicy:",
        "   CUSTOM ext.default (provider my-authz, 1 rule)",
        "   DENY   deny-post.default (2 rules, dry-run: not enforced)",
        "   ALLOW  allow-nothing.istio-system (no rules: matches nothing)",
        "   ALLOW  ratings-viewer.default (1 rule)",
        "   ALLOW policies apply: a request no ALLOW rule matches is denied",
    ]
    rbac = next(line for line in report(view, "pod", "ratings-v1-0") if "RBAC policies" in line)
    assert rbac == (
        "RBAC policies: istio-ext-authz-my-authz-ns[default]-policy[ext]-rule[0], "
        "ns[default]-policy[deny-post]-rule[0], ns[default]-policy[deny-post]-rule[1], "
        "ns[istio-system]-policy[allow-nothing]-rule[0], "
        "ns[default]-policy[ratings-viewer]-rule[0]"
    )
    # details: the mesh-wide allow-nothing and the namespace's dry-run DENY only
    details = section(report(view, "pod", "details-v1-0"), "Applied AuthorizationPolicy")
    assert [line.split("(")[0].strip() for line in details[1:3]] == [
        "DENY   deny-post.default",
        "ALLOW  allow-nothing.istio-system",
    ]
    no_policy = report(bookinfo(), "pod", "details-v1-0")
    assert "AuthorizationPolicy: none applies to this pod (every request is allowed)" in no_policy


SELECTED_RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-for-v3}
spec:
  host: reviews
  workloadSelector: {matchLabels: {version: v3}}
  subsets: [{name: v3, labels: {version: v3}}]
"""


def test_a_pod_shows_the_rule_its_labels_select() -> None:
    """`x describe pod` shows what the pod's own proxy applies: the rule whose selector it
    matches, else the namespace's rule without a selector (as istioctl reads the pod's
    Envoy)."""
    view = bookinfo("destination-rule-all.yaml", extra=SELECTED_RULE)
    selected = report(view, "pod", "reviews-v3-0")
    assert 'DestinationRule: reviews-for-v3 for "reviews"' in selected
    other = report(view, "pod", "reviews-v2-0")
    assert 'DestinationRule: reviews for "reviews"' in other


def test_service_ports_print_istioctls_protocol_names() -> None:
    """istioctl's `findProtocolForPort`: Istio's spelling (`GRPC-Web`, `Mongo`), `auto-detect`
    for a port with no name and no appProtocol, `UnsupportedProtocol` for an unknown name, and
    no line for a UDP port."""
    extra = """apiVersion: v1
kind: Service
metadata: {name: shapes, namespace: default}
spec:
  selector: {app: reviews}
  ports:
  - {name: grpc-web-api, port: 7000, targetPort: 9080}
  - {name: mongo, port: 27017, targetPort: 9080}
  - {port: 8000, targetPort: 9080}
  - {name: web, port: 8001, targetPort: 9080}
  - {name: web2, port: 8002, targetPort: 9080, appProtocol: kubernetes.io/h2c}
  - {name: dns, port: 53, targetPort: 9080, protocol: UDP}
"""
    manifest = _documents((BOOKINFO / "bookinfo.yaml").read_text(), extra)
    registryz = _registryz(manifest)
    view = mesh_view(manifest, registryz, _syncz(registryz["instances"]), INGRESS)
    lines = report(view, "svc", "shapes")
    assert [line for line in lines if line.startswith(("Service:", "   Port:"))] == [
        "Service: shapes",
        "   Port: grpc-web-api 7000/GRPC-Web targets pod port 9080",
        "   Port: mongo 27017/Mongo targets pod port 9080",
        "   Port:  8000/auto-detect targets pod port 9080",
        "   Port: web 8001/UnsupportedProtocol targets pod port 9080",
        "   Port: web2 8002/HTTP2 targets pod port 9080",
    ]
