"""Istio's "Envoy Access Logs" task typed as its page types it (Istio fidelity: the project is
checked from outside with Istio's files), and what its log lines say about addresses.

Istio's sleep and httpbin (tests/data/istio-samples), the page's Telemetry `mesh-default` with
the `envoy` provider, `kubectl exec "$SOURCE_POD" -c sleep -- curl -sS -v httpbin:8000/status/418`
(the teapot, `server: envoy`), then `kubectl logs -l app=sleep -c istio-proxy` and `kubectl logs
-l app=httpbin -c istio-proxy` compared field by field with the page's example lines. As in a
cluster, the client sidecar's connection leaves from its pod's address: the outbound line's
UPSTREAM_LOCAL_ADDRESS is the sleep pod's IP and the inbound line's DOWNSTREAM_REMOTE_ADDRESS the
same address and port. Left as local mode has them (no capture): the outbound line's downstream
addresses are the sidecar's HTTP proxy listener and the app's loopback, not the service's
cluster IP, and the app listens on a port of its own behind the sidecar.

The same address is what policies see: an AuthorizationPolicy denying `ipBlocks: [<sleep's pod
IP>]` denies sleep and no one else (before, every sidecar's requests came from 127.0.0.1, so
such a DENY never matched). Outside the mesh, the kernel chooses: it refuses a 127/8 source
for a destination off the host's loopback, so a sidecar's request to a MESH_EXTERNAL
ServiceEntry at a real network address (a namespace the test creates, standing in for the
internet) got 503 while the sidecar bound every connection to its pod address. So did a mesh
service whose endpoints are all there (a VM: a MESH_INTERNAL ServiceEntry's own endpoint, or a
WorkloadEntry it or a Kubernetes Service selects): a proxy bound to loopback reaches it from the
node too (`translate.source_bind`).
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

TELEMETRY = """\
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  accessLogging:
    - providers:
      - name: envoy
"""
# Istio's default text format, as the page lists its fields
LINE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" (?P<code>\d+)'
    r" (?P<flags>\S+) (?P<details>\S+) (?P<termination>\S+) \"(?P<transport_failure>[^\"]*)\""
    r" (?P<received>\d+) (?P<sent>\d+) (?P<duration>\d+) (?P<upstream_time>\S+)"
    r' "(?P<xff>[^"]*)" "(?P<agent>[^"]*)" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)"'
    r' "(?P<upstream_host>[^"]*)" (?P<cluster>\S+) (?P<upstream_local>\S+)'
    r" (?P<downstream_local>\S+) (?P<downstream_remote>\S+) (?P<sni>\S+) (?P<route>\S+)$"
)
DENY_SLEEP = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-sleep-ip
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - from:
    - source:
        ipBlocks: ["{ip}"]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as m:
        for sample in ("sleep", "curl", "httpbin"):
            pilotfish_ok(m, "apply", "-f", f"tests/data/istio-samples/{sample}.yaml")
        yield m


def _ok(mesh: LocalMesh, command: str, stdin: str | None = None) -> str:
    return pilotfish_ok(mesh, *shlex.split(command), stdin=stdin)


def _last_line(mesh: LocalMesh, app: str, path: str) -> dict[str, str]:
    lines = [line for line in _ok(mesh, f"logs -l app={app} -c istio-proxy").splitlines()
             if f" {path} " in line]  # fmt: skip
    assert lines, f"no access log line for {path} from {app}"
    match = LINE.match(lines[-1])
    assert match, lines[-1]
    return match.groupdict()


def test_the_access_log_task_field_by_field(mesh: LocalMesh) -> None:
    _ok(mesh, "apply -f -", stdin=TELEMETRY)
    source_pod = _ok(mesh, "get pod -l app=sleep -o jsonpath={.items..metadata.name}").strip()
    result = mesh.pilotfish(
        "exec", source_pod, "-c", "sleep", "--", "curl", "-sS", "-v", "httpbin:8000/status/418"
    )
    assert result.returncode == 0, result.stderr
    assert "< HTTP/1.1 418 Unknown" in result.stderr and "< server: envoy" in result.stderr
    assert "-=[ teapot ]=-" in result.stdout
    sleep_ip = _ok(mesh, "get pod -l app=sleep -o jsonpath={.items[0].status.podIP}").strip()
    httpbin_ip = _ok(mesh, "get pod -l app=httpbin -o jsonpath={.items[0].status.podIP}").strip()
    client = _last_line(mesh, "sleep", "/status/418")
    server = _last_line(mesh, "httpbin", "/status/418")
    for line in (client, server):  # the fields both of the page's lines share
        assert (line["method"], line["path"], line["protocol"]) == (
            "GET",
            "/status/418",
            "HTTP/1.1",
        )
        assert (line["code"], line["flags"], line["details"]) == ("418", "-", "via_upstream")
        assert (line["termination"], line["transport_failure"]) == ("-", "-")
        assert (line["received"], line["sent"], line["xff"]) == ("0", "135", "-")
        assert line["agent"].startswith("curl/") and line["authority"] == "httpbin:8000"
        assert line["route"] == "default"
    assert client["request_id"] == server["request_id"]
    # the client's line: to the httpbin pod at its target port, from sleep's pod address
    assert client["upstream_host"] == f"{httpbin_ip}:8080"
    assert client["cluster"] == "outbound|8000||httpbin.default.svc.cluster.local"
    assert client["upstream_local"].rpartition(":")[0] == sleep_ip, client
    assert client["sni"] == "-"
    # the server's line: from that same address and port, on the pod's port
    assert server["cluster"] == "inbound|8080||"
    assert server["upstream_host"].startswith("127.0.0.1:")
    assert server["upstream_local"].startswith("127.0.0.1:")
    assert server["downstream_local"] == f"{httpbin_ip}:8080"
    assert server["downstream_remote"] == client["upstream_local"]
    assert server["sni"] == "outbound_.8000_._.httpbin.default.svc.cluster.local"


def test_a_deny_on_the_clients_pod_address_holds(mesh: LocalMesh) -> None:
    sleep_ip = _ok(mesh, "get pod -l app=sleep -o jsonpath={.items[0].status.podIP}").strip()
    _ok(mesh, "apply -f -", stdin=DENY_SLEEP.format(ip=sleep_ip))
    try:
        code = "curl -s -o /dev/null -w %{http_code} http://httpbin:8000/ip"
        assert _ok(mesh, f"exec deploy/sleep -- {code}") == "403"
        assert _ok(mesh, f"exec deploy/curl -- {code}") == "200"
        # what the app sees as the peer is the sidecar's loopback, as behind Istio's sidecar
        origin = _ok(mesh, "exec deploy/curl -- curl -s http://httpbin:8000/ip")
        assert '"origin": "127.0.0.1"' in origin, origin
    finally:
        _ok(mesh, "delete authorizationpolicy deny-sleep-ip")


OUTSIDE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: outside
spec:
  hosts: [outside.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {address}, ports: {{http: 8080}}}}]
"""


@pytest.fixture
def outside_server() -> Iterator[str]:
    """An HTTP server on a network address off the host's loopback: in a namespace of its own
    (`pfout<N>`, a veth pair to the host, 100.64.N.0/30), nothing routed further."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise AssertionError("this test needs root and iproute2 (network namespaces)")
    n = random.randint(1, 250)
    ns, host_end, address = f"pfout{n}", f"pfout{n}h", f"100.64.{n}.2"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    ip("netns", "add", ns)
    server = None
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("addr", "add", f"100.64.{n}.1/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", ns, "addr", "add", f"{address}/30", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        argv = [sys.executable, "-m", "http.server", "8080", "--bind", address]
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        listening = ["ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :8080"]
        deadline = time.monotonic() + 10
        while not subprocess.run(listening, capture_output=True, text=True).stdout.strip():
            assert time.monotonic() < deadline, "the outside server did not start"
            time.sleep(0.1)
        yield address
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def test_a_sidecar_reaches_a_service_outside_the_mesh_from_the_node(
    mesh: LocalMesh, outside_server: str
) -> None:
    _ok(mesh, "apply -f -", stdin=OUTSIDE.format(address=outside_server))
    try:
        code = "curl -s -o /dev/null -w %{http_code} --max-time 5 http://outside.example/"
        mesh.wait_for(
            lambda: _ok(mesh, f"exec deploy/sleep -- {code}") == "200",
            what="sleep's request to outside.example",
        )
    finally:
        _ok(mesh, "delete serviceentry outside")


WORKLOAD_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: vm
spec:
  address: {address}
  labels: {{app: vm}}
  ports: {{http: 8080}}
---
"""
INSIDE = {
    "endpoint": """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: vm
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {address}, ports: {{http: 8080}}}}]
""",
    "workload-entry": WORKLOAD_ENTRY
    + """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: vm
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: vm}}}}
""",
    "service": WORKLOAD_ENTRY
    + """\
apiVersion: v1
kind: Service
metadata:
  name: vm
spec:
  selector: {{app: vm}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
""",
}


@pytest.mark.parametrize("shape", sorted(INSIDE))
def test_a_sidecar_reaches_a_mesh_service_off_the_hosts_loopback(
    mesh: LocalMesh, outside_server: str, shape: str
) -> None:
    """A VM in the mesh, as Istio's VM docs have it (a MESH_INTERNAL ServiceEntry's own
    endpoint, a WorkloadEntry its `workloadSelector` selects, or one a Kubernetes Service
    selects), at an address off the host's loopback: the sidecar's connection cannot leave from
    its 127/8 pod address (before: 503 until the wait ran out); the kernel chooses, as for a
    MESH_EXTERNAL one. Plaintext: the endpoint has no sidecar (no `tlsMode: istio` label, no
    service account), as Istio's auto mTLS decides."""
    _ok(mesh, "apply -f -", stdin=INSIDE[shape].format(address=outside_server))
    host = "vm" if shape == "service" else "vm.example"
    try:
        code = f"curl -s -o /dev/null -w %{{http_code}} --max-time 5 http://{host}/"
        mesh.wait_for(
            lambda: _ok(mesh, f"exec deploy/sleep -- {code}") == "200",
            what=f"sleep's request to {host}",
        )
    finally:
        _ok(mesh, "delete -f -", stdin=INSIDE[shape].format(address=outside_server))
