"""`pilotfish x explain POD` through real Envoys, with Istio's access logs on: after Istio's
circuit-breaking task it names the DestinationRule the client applies (its workloadSelector
rule over the namespace's plain one) and its connectionPool (UO), after a
fault-abort rule the VirtualService (FI), after a DENY policy the AuthorizationPolicy (RBAC);
the UI's failing-edge explanation is the same answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.e2e.httpkit import SidecarClient, apply_yaml, delete_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh

POD = "httpbin-v1-0"
ACCESS_LOGS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
"""
CIRCUIT_BREAKER = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin-others}
spec:
  host: httpbin
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  workloadSelector: {matchLabels: {app: httpbin}}  # the client: explain names what it applies
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
"""
ABORT = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as mesh:
        path = tmp_path_factory.mktemp("cfg") / "mesh.yaml"
        path.write_text(ACCESS_LOGS)
        mesh.apply(str(path))
        yield mesh


def explain(mesh: LocalMesh) -> dict[str, object]:
    result = mesh.pilotfish("x", "explain", "httpbin-v1", "-o", "json")
    assert result.returncode == 0, result.stderr
    body: dict[str, object] = json.loads(result.stdout)
    return body


def culprits(body: dict[str, object], flag: str) -> set[tuple[str, str, str]]:
    findings = body["findings"]
    assert isinstance(findings, list)
    return {
        (c["kind"], c["name"], c["field"])
        for f in findings
        if flag in f["flags"].split(",") or (flag == "RBAC" and f["code"] == 403)
        for c in f["culprits"]
    }


def test_circuit_breaking_names_the_destination_rule(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, CIRCUIT_BREAKER)
    client = SidecarClient(mesh, POD)

    def burst() -> bool:
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: client.request("http://httpbin:8000/delay/1").status,
                                  range(6)))  # fmt: skip
        return 503 in codes

    mesh.wait_for(burst, 60, "the circuit breaker to open")
    mesh.wait_for(
        lambda: ("DestinationRule", "httpbin", "spec.trafficPolicy.connectionPool")
        in culprits(explain(mesh), "UO"), 30, "UO explained",
    )  # fmt: skip
    text = mesh.pilotfish("x", "explain", "httpbin-v1").stdout
    assert "UO: upstream overflow" in text
    assert "caused by DestinationRule default/httpbin at spec.trafficPolicy.connectionPool" in text
    assert "http1MaxPendingRequests: 1" in text
    delete_yaml(mesh, tmp_path, CIRCUIT_BREAKER)


def test_fault_abort_names_the_virtual_service(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, ABORT)
    client = SidecarClient(mesh, POD)
    mesh.wait_for(lambda: client.request("http://httpbin:8000/get").status == 418, 30, "abort")
    mesh.wait_for(
        lambda: ("VirtualService", "httpbin", "spec.http[0].fault.abort")
        in culprits(explain(mesh), "FI"), 30, "FI explained",
    )  # fmt: skip
    text = mesh.pilotfish("x", "explain", "httpbin-v1").stdout
    assert "FI: aborted by fault injection" in text and "httpStatus: 418" in text
    edge = http(f"{mesh.info['api']}/ui/api/edge?id=wl:default/httpbin-v1->svc:default/httpbin")
    assert ("VirtualService", "httpbin", "spec.http[0].fault.abort") in culprits(
        json.loads(edge.body), "FI"
    )
    delete_yaml(mesh, tmp_path, ABORT)


DENY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-status}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules: [{to: [{operation: {paths: [/status/*]}}]}]
"""


def test_an_authorization_deny_names_the_policy(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, DENY)
    client = SidecarClient(mesh, POD)
    mesh.wait_for(lambda: client.request("http://httpbin:8000/status/200").status == 403, 30,
                  "the deny")  # fmt: skip
    mesh.wait_for(
        lambda: ("AuthorizationPolicy", "deny-status", "spec.rules[0]")
        in culprits(explain(mesh), "RBAC"), 30, "the denial explained",
    )  # fmt: skip
    text = mesh.pilotfish("x", "explain", "httpbin-v1").stdout
    assert "denied by an authorization policy" in text
    assert "caused by AuthorizationPolicy default/deny-status at spec.rules[0]: action DENY" in text
    delete_yaml(mesh, tmp_path, DENY)


def test_unknown_pod_is_a_clear_error(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("x", "explain", "nosuch")
    assert result.returncode == 1 and "no pod 'nosuch'" in result.stderr
    assert "httpbin-v1-0" in result.stderr and "Traceback" not in result.stderr
