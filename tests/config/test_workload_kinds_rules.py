# ruff: noqa: E501
"""Table tests of Istio's semantic checks for Sidecar, EnvoyFilter, ProxyConfig, WorkloadEntry,
WorkloadGroup and Telemetry: each case is a spec and the exact diagnostics it must produce
(file:line, kind, path, level and message). Line 6 is the first line of the spec."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.validation.envoy_filter import UNSTABLE

API = {
    "Sidecar": "networking.istio.io/v1",
    "EnvoyFilter": "networking.istio.io/v1alpha3",
    "ProxyConfig": "networking.istio.io/v1beta1",
    "WorkloadEntry": "networking.istio.io/v1",
    "WorkloadGroup": "networking.istio.io/v1",
    "Telemetry": "telemetry.istio.io/v1",
}


def diagnostics(kind: str, spec: str) -> list[str]:
    """Every diagnostic but the warning each EnvoyFilter gets (test_istio_envoy_filter_rules)."""
    text = f"apiVersion: {API[kind]}\nkind: {kind}\nmetadata:\n  name: x\nspec:\n{spec}"
    found = load(text, "k.yaml").diagnostics
    return [f"{d.level}: {d}" for d in found if d.message != UNSTABLE]


def line(kind: str, at: int, path: str, message: str, level: str = "error") -> str:
    return f"{level}: k.yaml:{at}: {kind} default/x at {path}: {message}"


VALID = [
    ("Sidecar", "  egress:\n  - hosts: ['./*', 'istio-system/*']\n"),
    (
        "Sidecar",
        "  ingress:\n  - port: {number: 9080, protocol: HTTP, name: http}\n"
        "    defaultEndpoint: 127.0.0.1:8080\n  egress:\n"
        "  - port: {number: 3306, protocol: MYSQL, name: db}\n    hosts: ['*/db.example.com']\n"
        "  - hosts: ['./*']\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
    ),
    (
        "EnvoyFilter",
        "  configPatches:\n  - applyTo: HTTP_FILTER\n    match:\n      context: SIDECAR_INBOUND\n"
        "      listener:\n        filterChain:\n          filter:\n"
        "            name: envoy.filters.network.http_connection_manager\n"
        "            subFilter: {name: envoy.filters.http.router}\n"
        "    patch: {operation: INSERT_BEFORE, value: {name: x, typed_config: {'@type': "
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}}\n",
    ),
    ("ProxyConfig", "  concurrency: 2\n"),
    ("WorkloadEntry", "  address: 10.0.0.5\n  ports: {http: 8080}\n  labels: {app: a}\n"),
    ("WorkloadGroup", "  template: {ports: {http: 8080}}\n  probe: {httpGet: {port: 8080}}\n"),
    (
        "Telemetry",
        "  metrics:\n  - overrides:\n    - tagOverrides: {t: {operation: UPSERT, value: v}}\n",
    ),
]


@pytest.mark.parametrize(("kind", "spec"), VALID)
def test_valid(kind: str, spec: str) -> None:
    assert diagnostics(kind, spec) == []


S, F = "Sidecar", "EnvoyFilter"
CASES = [
    (
        "empty sidecar",
        S,
        "  workloadSelector: {labels: {app: a}}\n",
        [line(S, 5, "spec", "sidecar: empty configuration provided")],
    ),
    (
        "egress hosts",
        S,
        "  egress:\n  - hosts: [reviews, '/x']\n  - port: {number: 80, protocol: HTTP, name: h}\n    hosts: []\n",
        [
            line(
                S,
                7,
                "spec.egress[0]",
                "sidecar: the egress listener with empty port should be the last listener in the list",
            ),
            line(S, 7, "spec.egress[0].hosts[0]", "host must be of form namespace/dnsName"),
            line(
                S,
                7,
                "spec.egress[0].hosts[1]",
                "config namespace and dnsName in host entry cannot be empty",
            ),
            line(
                S,
                9,
                "spec.egress[1].hosts",
                "sidecar: egress listener must contain at least one host",
            ),
        ],
    ),
    (
        "ingress listeners",
        S,
        "  ingress:\n  - defaultEndpoint: 127.0.0.1:80\n"
        "  - port: {number: 80, protocol: HTTP, name: a}\n    defaultEndpoint: 10.0.0.1:80\n"
        "    tls: {mode: ISTIO_MUTUAL}\n"
        "  - port: {number: 80, protocol: HTTP, name: b, targetPort: 8080}\n",
        [
            line(S, 7, "spec.ingress[0]", "sidecar: port is required for ingress listeners"),
            line(
                S,
                9,
                "spec.ingress[1].defaultEndpoint",
                "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset",
            ),
            line(
                S,
                10,
                "spec.ingress[1].tls.mode",
                "configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls",
            ),
            line(
                S,
                10,
                "spec.ingress[1].tls",
                "server cannot have TLS settings for non HTTPS/TLS ports",
            ),
            line(S, 11, "spec.ingress[2].port.targetPort", "targetPort has no impact on Sidecars"),
            line(
                S, 11, "spec.ingress[2].port", "sidecar: ports on IP bound listeners must be unique"
            ),
        ],
    ),
    (
        "egress proxy needs ALLOW_ANY",
        S,
        "  outboundTrafficPolicy:\n    mode: REGISTRY_ONLY\n    egressProxy: {host: proxy.example.com, port: {number: 3128}}\n",
        [
            line(
                S,
                8,
                "spec.outboundTrafficPolicy.egressProxy",
                "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
            )
        ],
    ),
    (
        "envoy filter patches",
        F,
        "  configPatches:\n  - match: {context: ANY}\n    patch: {operation: MERGE, value: {a: 1}}\n"
        "  - applyTo: CLUSTER\n    patch: {operation: ADD}\n"
        "  - applyTo: CLUSTER\n    match: {listener: {name: l}}\n    patch: {operation: REMOVE}\n"
        "  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {filter: {name: x, subFilter: {name: y}}}}}\n"
        "    patch: {operation: REMOVE}\n",
        [
            line(F, 7, "spec.configPatches[0].applyTo", "Envoy filter: missing applyTo"),
            line(
                F,
                10,
                "spec.configPatches[1].patch",
                "Envoy filter: missing patch value for non-remove operation",
            ),
            line(
                F,
                12,
                "spec.configPatches[2].match",
                "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
            ),
            line(
                F,
                15,
                "spec.configPatches[3].match.listener.filterChain.filter",
                "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only",
            ),
        ],
    ),
    (
        "envoy filter selector without labels",
        F,
        "  workloadSelector: {}\n  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: REMOVE}\n",
        [
            line(
                F,
                6,
                "spec.workloadSelector",
                "Envoy filter: workload selector specified without labels, will be applied to all services in namespace",
                "warning",
            )
        ],
    ),
    (
        "negative concurrency",
        "ProxyConfig",
        "  concurrency: -1\n",
        [
            line(
                "ProxyConfig",
                6,
                "spec.concurrency",
                "concurrency must be greater than or equal to 0",
            )
        ],
    ),
    (
        "workload entry address and unix socket",
        "WorkloadEntry",
        "  address: unix://run/app.sock\n  ports: {http: 8080}\n",
        [  # Istio's webhook wording (validateWorkloadEntry), where the CRD's CEL says it too
            line(
                "WorkloadEntry", 6, "spec.address", "run/app.sock is not an absolute path to a file"
            ),
            line(
                "WorkloadEntry",
                5,
                "spec",
                "unix endpoint unix://run/app.sock must not include ports",
            ),
        ],
    ),
    (
        "workload entry without address",
        "WorkloadEntry",
        "  labels: {app: a}\n",
        [line("WorkloadEntry", 5, "spec", "address is required")],
    ),
    (
        "workload group probe",
        "WorkloadGroup",
        "  template: {}\n  probe: {httpGet: {port: 0, scheme: FTP}}\n",
        [
            line(
                "WorkloadGroup",
                7,
                "spec.probe.httpGet.port",
                "port number 0 must be in the range 1..65535",
            ),
            line(
                "WorkloadGroup",
                7,
                "spec.probe.httpGet.scheme",
                'httpGet.scheme must be one of "HTTPS", "HTTP"',
            ),
        ],
    ),
    (
        "telemetry tag overrides",
        "Telemetry",
        "  metrics:\n  - reportingInterval: 0s\n    overrides:\n"
        "    - tagOverrides: {a: {operation: REMOVE, value: v}, b: {operation: UPSERT}}\n",
        [  # Istio's webhook wording (validateTelemetryMetrics) before the CRD's CEL rules
            line(
                "Telemetry",
                9,
                "spec.metrics[0].overrides[0].tagOverrides.a",
                "tagOverrides.value may only be set when operation is UPSERT",
            ),
            line(
                "Telemetry",
                9,
                "spec.metrics[0].overrides[0].tagOverrides.b",
                "tagOverrides.value must be set when operation is UPSERT",
            ),
            line(
                "Telemetry",
                7,
                "spec.metrics[0].reportingInterval",
                "duration must be greater than 1ms",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("title", "kind", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(title: str, kind: str, spec: str, expected: list[str]) -> None:
    assert diagnostics(kind, spec) == expected
