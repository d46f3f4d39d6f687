"""Istio's TCP tasks as written, with Istio's files at Istio's paths and the `curl` pod's `nc`
(issue 8, items 11 and 12), through real Envoys, in the task's namespace and in its order:
"TCP Traffic Shifting" (`(date; sleep 1) | nc $INGRESS_HOST $TCP_INGRESS_PORT` through the ingress
gateway, all to v1 then 80/20), "Authorization for TCP traffic" (`echo "port 9000" | nc tcp-echo
9000`: a service name dialled by a plain socket, which in local mode reaches the pod's sidecar
listener for it, so the destination's policy applies), then the task's cleanup. Tests in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import scrape, select

NS = "istio-io-tcp-traffic-shifting"  # Istio's task's namespace
GATEWAY_SOURCE = {  # Istio's source labels for its ingress gateway (a Deployment's pod)
    "source_workload": "istio-ingressgateway",
    "source_canonical_service": "istio-ingressgateway",
    "source_canonical_revision": "latest",
    "source_workload_namespace": "istio-system",
    "source_principal": "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
    "source_app": "istio-ingressgateway",
    "source_version": "unknown",
    "source_cluster": "Kubernetes",
}
TASK = "samples/tcp-echo"
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
    """Istio's "Before you begin", as written (the namespace label turns injection on)."""
    with running_mesh(tmp_path_factory, None) as m:
        _out(m, "create", "namespace", NS)
        _out(m, "label", "namespace", NS, "istio-injection=enabled")
        _out(m, "apply", "-f", "samples/curl/curl.yaml", "-n", NS)
        _out(m, "apply", "-f", f"{TASK}/tcp-echo-services.yaml", "-n", NS)
        yield m


def _out(mesh: LocalMesh, *args: str, stdin: str | None = None) -> str:
    result = mesh.pilotfish(*args, stdin=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _curl_pod(mesh: LocalMesh) -> str:
    jsonpath = "jsonpath={.items..metadata.name}"
    return _out(mesh, "get", "pod", "-l", "app=curl", "-n", NS, "-o", jsonpath)


def _nc(mesh: LocalMesh, script: str) -> str:
    """`kubectl exec CURL_POD -c curl -n NS -- sh -c SCRIPT`, as Istio's tasks write it."""
    return _out(mesh, "exec", _curl_pod(mesh), "-c", "curl", "-n", NS, "--", "sh", "-c", script)


def _gateway(mesh: LocalMesh) -> tuple[str, str]:
    svc = ["-n", "istio-system", "get", "service", "istio-ingressgateway", "-o"]
    host = _out(mesh, *svc, "jsonpath={.status.loadBalancer.ingress[0].ip}")
    return host, _out(mesh, *svc, 'jsonpath={.spec.ports[?(@.name=="tcp")].port}')


def test_tcp_traffic_shifting_through_the_ingress_gateway(mesh: LocalMesh) -> None:
    _out(mesh, "apply", "-f", f"{TASK}/tcp-echo-all-v1.yaml", "-n", NS)
    host, port = _gateway(mesh)
    assert (host, port) == (mesh.ingress, "31400")
    for _ in range(3):
        reply = _nc(mesh, f"(date; sleep 1) | nc {host} {port}")
        assert reply.startswith("one "), reply  # every connection to v1
        assert reply.split()[-1].isdigit()  # the echoed `date` line (its year)
    _out(mesh, "apply", "-f", f"{TASK}/tcp-echo-20-v2.yaml", "-n", NS)
    script = f"for i in $(seq 1 40); do echo x$i | nc {host} {port}; done"
    replies = _nc(mesh, script).splitlines()
    assert len(replies) == 40 and {r.split()[0] for r in replies} == {"one", "two"}, replies
    assert 2 <= sum(r.startswith("two ") for r in replies) <= 16, replies  # 20% of 40


def test_the_servers_tcp_metrics_name_the_gateway_as_their_source(mesh: LocalMesh) -> None:
    """What Istio's tcp-echo servers report (reporter="destination") for the connections the
    shifting test sent through the ingress gateway: the gateway is their source, as Istio's
    peer exchange names it (its certificate's identity here, `telemetry.exchange`)."""
    jsonpath = "jsonpath={.items[*].status.podIP}"
    servers = _out(mesh, "get", "pod", "-n", NS, "-l", "app=tcp-echo", "-o", jsonpath).split()
    series = [
        s.labels
        for ip in servers
        for s in select(
            scrape(f"http://{ip}:15090/stats/prometheus"),
            "istio_tcp_connections_opened_total",
            reporter="destination",
            source_workload_namespace="istio-system",
        )
    ]
    assert series, "no TCP series from istio-system at the servers"
    for labels in series:
        assert {k: v for k, v in labels.items() if k.startswith("source_")} == GATEWAY_SOURCE
        assert labels["destination_workload_namespace"] == NS


def test_tcp_authorization_task_with_nc_by_service_name(mesh: LocalMesh) -> None:
    for port in (9000, 9001):
        reply = _nc(mesh, f'echo "port {port}" | nc tcp-echo {port}')
        assert reply.split(" ", 1)[1] == f"port {port}\n", reply  # one/two, echoed
    _out(mesh, "apply", "-n", NS, "-f", "-", stdin=ALLOW_9001)
    try:
        assert _nc(mesh, 'echo "port 9000" | nc tcp-echo 9000') == ""  # closed by the RBAC filter
        assert _nc(mesh, f'echo "port 9001" | nc tcp-echo.{NS} 9001').endswith("port 9001\n")
    finally:
        _out(mesh, "delete", "authorizationpolicy", "tcp-policy", "-n", NS)


def test_nc_says_what_local_mode_cannot_do(mesh: LocalMesh) -> None:
    pod = ["exec", _curl_pod(mesh), "-n", NS, "--", "nc"]
    http = mesh.pilotfish(*pod, "curl", "80")  # the curl Service's HTTP port
    assert http.returncode == 1 and "is an HTTP port" in http.stderr, http.stderr
    option = mesh.pilotfish(*pod, "-l", "9000")
    assert option.returncode == 1 and "option -l is not supported" in option.stderr
    only = mesh.pilotfish(*pod, "-z", "-w", "5", "tcp-echo", "9000")
    assert only.returncode == 0 and only.stdout == "", only.stderr


def test_cleanup_as_the_task_does_it(mesh: LocalMesh) -> None:
    _out(mesh, "delete", "-f", f"{TASK}/tcp-echo-all-v1.yaml", "-n", NS)
    assert _out(mesh, "delete", "namespace", NS).endswith(f'namespace "{NS}" deleted\n')
    assert not [key for key in mesh.info["proxies"] if key.endswith(f".{NS}")]
