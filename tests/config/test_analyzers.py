"""Table tests of the analyzers added for issue 3 (IST0127, IST0128/0129, IST0130/0131,
IST0162): each case is a YAML stream and the exact `istioctl analyze` lines it must produce
(only the codes under test are kept, so that each case stays small)."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.analyzers.inventory import inventory_from_registryz

SVC = "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 9080}}]}}\n"  # noqa: E501
WL = "apiVersion: pilotfish.io/v1alpha1\nkind: Workload\nmetadata: {{name: {name}, labels: {{app: {app}, version: v1}}}}\nspec: {{}}\n"  # noqa: E501
NET = "apiVersion: networking.istio.io/v1\n"
SEC = "apiVersion: security.istio.io/v1\n"


def doc(head: str, kind: str, name: str, spec: str, namespace: str = "") -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return f"{head}kind: {kind}\nmetadata: {{name: {name}{ns}}}\nspec: {spec}\n"


def stream(*docs: str) -> str:
    return "---\n".join(docs)


def lines(text: str, codes: tuple[str, ...]) -> list[str]:
    return [str(m) for m in analyze(load(text, "a.yaml")) if m.code in codes]


MESH = stream(SVC.format(name="reviews"), WL.format(name="reviews-v1", app="reviews"))


W127 = "Warning [IST0127] ({kind} {name} a.yaml:{line}) No matching workloads for this resource with the following labels: {labels}"  # noqa: E501

CASES = [
    (
        "selectors matching no workload (IST0127 for policies, IST0101 for Sidecars)",
        stream(
            MESH,
            doc(
                SEC,
                "AuthorizationPolicy",
                "ap",
                "{selector: {matchLabels: {app: ratings, version: v1}}}",
            ),
            doc(SEC, "PeerAuthentication", "pa", "{selector: {matchLabels: {app: reviews}}}"),
            doc(
                NET,
                "Sidecar",
                "sc",
                "{workloadSelector: {labels: {app: nope}}, egress: [{hosts: ['./*']}]}",
            ),
            doc(
                SEC,
                "AuthorizationPolicy",
                "gw",
                "{selector: {matchLabels: {istio: ingressgateway}}}",
                "istio-system",
            ),
            doc(SEC, "AuthorizationPolicy", "empty-ns", "{}", "other"),
            doc(SEC, "AuthorizationPolicy", "ns-wide", "{}"),
        ),
        ("IST0127", "IST0101"),
        [
            # a Sidecar selecting no pod is IST0101, as Istio's sidecar SelectorAnalyzer says
            'Error [IST0101] (Sidecar default/sc a.yaml:24) Referenced selector not found: "app=nope"',  # noqa: E501
            W127.format(
                kind="AuthorizationPolicy",
                name="default/ap",
                line=11,
                labels="app=ratings,version=v1",
            ),
            W127.format(kind="AuthorizationPolicy", name="other/empty-ns", line=31, labels=""),
        ],
    ),
    (
        "DestinationRule TLS without CA at destination and port level",
        doc(
            NET,
            "DestinationRule",
            "ext",
            "{host: api.example.com, trafficPolicy: {tls: {mode: SIMPLE}, portLevelSettings: "
            "[{port: {number: 443}, tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k}},"
            " {port: {number: 8443}, tls: {mode: SIMPLE, caCertificates: /ca}}]}}",
        ),
        ("IST0128", "IST0129"),
        [
            "Warning [IST0128] (DestinationRule default/ext a.yaml:4) DestinationRule default/ext in namespace default has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: api.example.com",  # noqa: E501
            "Warning [IST0129] (DestinationRule default/ext a.yaml:4) DestinationRule default/ext in namespace default has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: api.example.com at port number:443",  # noqa: E501
        ],
    ),
    (
        "credentialName with workloadSelector brings its CA",
        doc(
            NET,
            "DestinationRule",
            "ext",
            "{host: api.example.com, workloadSelector: {matchLabels: {app: a}}, "
            "trafficPolicy: {tls: {mode: SIMPLE, credentialName: c}}}",
        ),
        ("IST0128", "IST0129"),
        [],
    ),
    (
        "unreachable and ineffective rules",
        doc(
            NET,
            "VirtualService",
            "vs",
            "{hosts: [r], http: ["
            "{name: api, match: [{uri: {prefix: /api}}, {name: b, uri: {exact: /b}}], route: [{destination: {host: r}}]},"  # noqa: E501
            "{match: [{name: again, uri: {prefix: /api}}], route: [{destination: {host: r}}]},"
            "{match: [{uri: {exact: /c}}, {uri: {exact: /b}}], route: [{destination: {host: r}}]},"
            "{route: [{destination: {host: r}}]},"
            "{name: late, match: [{uri: {exact: /d}}], route: [{destination: {host: r}}]},"
            "{route: [{destination: {host: r}}]}]}",
        ),
        ("IST0130", "IST0131"),
        [
            'Info [IST0131] (VirtualService default/vs a.yaml:4) VirtualService rule #1 match "again" is not used (duplicate/overlapping match in rule "api").',  # noqa: E501
            "Warning [IST0130] (VirtualService default/vs a.yaml:4) VirtualService rule #1 not used (all matches used by prior rules).",  # noqa: E501
            'Info [IST0131] (VirtualService default/vs a.yaml:4) VirtualService rule #2 match #1 is not used (duplicate/overlapping match in rule "api").',  # noqa: E501
            'Warning [IST0130] (VirtualService default/vs a.yaml:4) VirtualService rule "late" not used (route without matches defined before).',  # noqa: E501
            "Warning [IST0130] (VirtualService default/vs a.yaml:4) VirtualService rule #5 not used (only the last rule can have no matches).",  # noqa: E501
        ],
    ),
    (
        "gateway port not on the Service that selects the gateway workload",
        stream(
            "apiVersion: v1\nkind: Service\nmetadata: {name: istio-ingressgateway, namespace: istio-system}\n"  # noqa: E501
            "spec: {selector: {istio: ingressgateway}, ports: [{port: 80, targetPort: 8080}]}\n",
            doc(
                NET,
                "Gateway",
                "gw",
                "{selector: {istio: ingressgateway}, servers: ["
                "{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']},"
                "{port: {number: 80, name: http2, protocol: HTTP}, hosts: ['*']},"
                "{port: {number: 9090, name: http3, protocol: HTTP}, hosts: ['*']}]}",
            ),
        ),
        ("IST0162",),
        [
            # as Istio: a Service's port number counts as well as its targetPort
            "Warning [IST0162] (Gateway default/gw a.yaml:9) The gateway is listening on a target port (port 9090) that is not defined in the Service associated with its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will not be available.",  # noqa: E501
        ],
    ),
    (
        "no gateway Service given: the installed istio-ingressgateway Service's ports count",
        doc(
            NET,
            "Gateway",
            "gw",
            "{selector: {istio: ingressgateway}, servers: "
            "[{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]}",
        ),
        ("IST0162",),
        [],
    ),
]


@pytest.mark.parametrize(("title", "text", "codes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_analyzer(title: str, text: str, codes: tuple[str, ...], expected: list[str]) -> None:
    assert lines(text, codes) == expected


def test_registry_of_the_running_mesh_supplies_hosts_and_workloads() -> None:
    text = stream(
        doc(
            NET,
            "VirtualService",
            "r",
            "{hosts: [ratings], http: [{route: [{destination: {host: ratings}}]}]}",
        ),
        doc(SEC, "AuthorizationPolicy", "ap", "{selector: {matchLabels: {app: ratings}}}"),
    )
    # with a cluster holding neither (Istio's analyzer tests): host and workloads missing
    alone = [m.code for m in analyze(load(text, "a.yaml"), cluster=True)]
    assert alone == ["IST0101", "IST0127"]
    # files alone: istioctl analyze --use-kube=false skips both analyzers (they read Services,
    # Pods and Namespaces)
    assert analyze(load(text, "a.yaml")) == []
    registryz = {
        "services": [
            {
                "name": "ratings",
                "namespace": "default",
                "hostname": "ratings.default.svc.cluster.local",
                "selector": [["app", "ratings"]],
                "ports": [{"name": "http", "port": 9080, "target_port": 9080}],
            }
        ],
        "instances": [
            {
                "name": "ratings-v1-0",
                "workload": "ratings-v1",
                "namespace": "default",
                "labels": [["app", "ratings"], ["version", "v1"]],
            }
        ],
    }
    assert analyze(load(text, "a.yaml"), inventory_from_registryz(registryz)) == []
