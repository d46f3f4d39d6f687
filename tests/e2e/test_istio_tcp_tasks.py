"""Istio's TCP tasks as written, from the `curl` pod with its `nc` (issue 8, items 11 and 12),
through real Envoys: "TCP Traffic Shifting" (`(date; sleep 1) | nc $INGRESS_HOST
$TCP_INGRESS_PORT` through the ingress gateway) and "Authorization for TCP traffic" (`echo "port
9000" | nc tcp-echo 9000`, a service name dialled by a plain socket, which in local mode reaches
the pod's sidecar listener for it, so the destination's policy applies).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh

ALLOW_9001 = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: tcp-policy
spec:
  selector:
    matchLabels:
      app: tcp-echo
  action: ALLOW
  rules:
  - to:
    - operation:
        ports: ["9001"]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/tcp-echo") as m:
        m.apply("samples/curl/curl.yaml")
        yield m


def _out(mesh: LocalMesh, *args: str) -> str:
    result = mesh.pilotfish(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _curl_pod(mesh: LocalMesh) -> str:
    return _out(mesh, "get", "pod", "-l", "app=curl", "-o", "jsonpath={.items..metadata.name}")


def _nc(mesh: LocalMesh, script: str) -> str:
    """`kubectl exec CURL_POD -c curl -- sh -c SCRIPT`, as Istio's tasks write it."""
    return _out(mesh, "exec", _curl_pod(mesh), "-c", "curl", "--", "sh", "-c", script)


def test_tcp_traffic_shifting_through_the_ingress_gateway(mesh: LocalMesh) -> None:
    mesh.apply("samples/tcp-echo/networking/tcp-echo-all-v1.yaml")
    svc = ["-n", "istio-system", "get", "service", "istio-ingressgateway", "-o"]
    host = _out(mesh, *svc, "jsonpath={.status.loadBalancer.ingress[0].ip}")
    port = _out(mesh, *svc, 'jsonpath={.spec.ports[?(@.name=="tcp")].port}')
    assert (host, port) == (mesh.ingress, "31400")
    for _ in range(3):
        reply = _nc(mesh, f"(date; sleep 1) | nc {host} {port}")
        assert reply.startswith("one "), reply  # every connection to v1
        assert reply.split()[-1].isdigit()  # the echoed `date` line (its year)


def test_tcp_authorization_task_with_nc_by_service_name(mesh: LocalMesh) -> None:
    for port in (9000, 9001):
        reply = _nc(mesh, f'echo "port {port}" | nc tcp-echo {port}')
        assert reply.split(" ", 1)[1] == f"port {port}\n", reply  # one/two, echoed
    mesh.pilotfish("apply", "-f", "-", stdin=ALLOW_9001)
    try:
        assert _nc(mesh, 'echo "port 9000" | nc tcp-echo 9000') == ""  # closed by the RBAC filter
        assert _nc(mesh, 'echo "port 9001" | nc tcp-echo.default 9001').endswith("port 9001\n")
    finally:
        _out(mesh, "delete", "authorizationpolicy", "tcp-policy")


def test_nc_says_what_local_mode_cannot_do(mesh: LocalMesh) -> None:
    http = mesh.pilotfish("exec", _curl_pod(mesh), "--", "nc", "tcp-client", "8080")
    assert http.returncode == 1 and "is an HTTP port" in http.stderr, http.stderr
    option = mesh.pilotfish("exec", _curl_pod(mesh), "--", "nc", "-l", "9000")
    assert option.returncode == 1 and "option -l is not supported" in option.stderr
    only = mesh.pilotfish("exec", _curl_pod(mesh), "--", "nc", "-z", "-w", "5", "tcp-echo", "9000")
    assert only.returncode == 0 and only.stdout == "", only.stderr
