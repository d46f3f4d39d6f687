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
such a DENY never matched).
"""

from __future__ import annotations

import re
import shlex
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
