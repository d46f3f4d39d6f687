"""Access logs through a real Envoy, as Istio writes them: the mesh config's accessLogFile /
accessLogEncoding, then the Telemetry API (CEL filter, disabled), read with
`pilotfish logs POD -c istio-proxy`. One httpbin mesh; httpbin calls itself through its sidecar,
so one Envoy logs both the outbound (client) and inbound (server) side. Tests run in order.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.e2e.httpkit import SidecarClient, apply_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import poll

POD = "httpbin-v1-0"
FLUSH_S = 1.5  # the sidecar flushes its access log every second (Istio's fileFlushInterval)
MESH_CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    accessLogFile: /dev/stdout
    accessLogEncoding: {encoding}
"""
# [start] "METHOD PATH PROTO" code flags details termination "failure" rx tx duration
# svc-time "xff" "ua" "request-id" "authority" "upstream host" cluster up-local down-local
# down-remote sni route
ISTIO_LINE = re.compile(
    r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "(?P<method>\S+) (?P<path>\S+) HTTP/1\.1" '
    r"(?P<code>\d+) (?P<flags>\S+) (?P<details>\S+) \S+ \"[^\"]*\" \d+ \d+ \d+ \S+ "
    r'"[^"]*" "(?P<ua>[^"]*)" "(?P<id>[^"]*)" "(?P<authority>[^"]*)" "[^"]*" (?P<cluster>\S+) '
    r"\S+ \S+ \S+ \S+ (?P<route>\S+)$"
)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as mesh:
        yield mesh


def _proxy_log(mesh: LocalMesh) -> list[str]:
    result = mesh.pilotfish("logs", POD, "-c", "istio-proxy")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _call(mesh: LocalMesh, path: str) -> str:
    """One request from httpbin's app to httpbin, through its sidecar; its user-agent marker."""
    marker = f"t-{uuid.uuid4()}"
    url = f"http://httpbin:8000{path}"
    response = SidecarClient(mesh, POD).request(url, headers={"user-agent": marker})
    assert str(response.status) == path.rsplit("/", 1)[-1], (path, response.status)
    return marker


def _lines_with(mesh: LocalMesh, marker: str, count: int) -> list[str]:
    found: list[str] = []

    def seen() -> bool:
        found[:] = [line for line in _proxy_log(mesh) if marker in line]
        return len(found) >= count

    poll(seen, timeout=20, what=f"{count} log lines with {marker}")
    return found


def test_no_access_log_by_default(mesh: LocalMesh) -> None:
    marker = _call(mesh, "/status/200")
    _call(mesh, "/status/200")
    time.sleep(FLUSH_S)
    assert not [line for line in _proxy_log(mesh) if marker in line]


def _settled(mesh: LocalMesh) -> None:
    """After a change: no listener warming or draining, so every connection the sidecar serves,
    its outbound cluster's pooled ones to its own inbound listener too, was accepted under the
    new configuration. Until then a connection accepted before keeps the filter chain it was
    accepted with (Envoy's listener update, so Istio's too): in CI on 459ddc3 the request right
    after the mesh config's ACK rode such a connection, and its inbound line was never written."""
    admin = SidecarClient(mesh, POD)
    mesh.wait_for(lambda: not _changing(admin), 30, "no listener warming or draining")


def _changing(admin: SidecarClient) -> bool:
    gauges = admin.stats("listener_manager.total_")
    kinds = ("listeners_warming", "listeners_draining", "filter_chains_draining")
    return any(gauges.get(f"listener_manager.total_{kind}", 0) for kind in kinds)


def test_access_log_file_uses_istios_text_format(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, MESH_CONFIG.format(encoding="TEXT"))
    _settled(mesh)
    _lines_with(mesh, _call(mesh, "/status/200"), 2)
    marker = _call(mesh, "/status/418")
    lines = _lines_with(mesh, marker, 2)
    parsed = [ISTIO_LINE.match(line) for line in lines]
    assert all(parsed), lines
    by_cluster = {m["cluster"]: m for m in parsed if m}
    outbound = by_cluster["outbound|8000||httpbin.default.svc.cluster.local"]
    inbound = by_cluster["inbound|8080||"]
    for match in (outbound, inbound):
        assert (match["method"], match["path"], match["code"]) == ("GET", "/status/418", "418")
        assert (match["flags"], match["details"], match["ua"]) == ("-", "via_upstream", marker)
    assert outbound["id"] == inbound["id"] != "-"  # one request, seen by both sides
    assert inbound["route"] == "default"


def test_json_encoding_has_istios_keys(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, MESH_CONFIG.format(encoding="JSON"))
    _settled(mesh)
    entries = [json.loads(line) for line in _lines_with(mesh, _call(mesh, "/status/201"), 2)]
    for entry in entries:
        assert set(entry) >= {
            "start_time", "route_name", "method", "path", "protocol", "response_code",
            "response_flags", "response_code_details", "connection_termination_details",
            "bytes_received", "bytes_sent", "duration", "upstream_service_time",
            "x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host",
            "upstream_cluster", "upstream_local_address", "downstream_local_address",
            "downstream_remote_address", "requested_server_name",
            "upstream_transport_failure_reason",
        }  # fmt: skip
        assert (entry["response_code"], entry["path"]) == (201, "/status/201")


def test_telemetry_filter_keeps_only_errors(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, MESH_CONFIG.format(encoding="TEXT"), "mesh.yaml")
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
""")  # fmt: skip
    _settled(mesh)
    ok, failed = _call(mesh, "/status/200"), _call(mesh, "/status/500")  # 503s are retried
    assert len(_lines_with(mesh, failed, 2)) == 2
    time.sleep(FLUSH_S)
    assert not [line for line in _proxy_log(mesh) if ok in line]


def test_telemetry_disabled_stops_access_logs(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    disabled: true
""")  # fmt: skip
    _settled(mesh)
    marker = _call(mesh, "/status/500")
    _call(mesh, "/status/200")
    time.sleep(FLUSH_S)  # had the first been logged, the sidecar has written it by now
    assert not [line for line in _proxy_log(mesh) if marker in line]


METRICS_SWITCH = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
  accessLogging: [{{providers: [{{name: envoy}}], disabled: true}}]
  metrics: [{{overrides: [{{match: {{metric: ALL_METRICS}}, disabled: {disabled}}}]}}]
"""


def test_listener_change_asks_keepalive_clients_to_close(mesh: LocalMesh, tmp_path: Path) -> None:
    """A Telemetry change replaces the sidecar's listeners; Envoy drains the old ones for a second,
    then closes the connections left on them. As Istio's pilot-agent runs it (`--drain-strategy
    immediate`), the first response on a draining connection says `connection: close`, so no
    client sends its next request down a connection the drain is about to cut. (With Envoy's
    gradual default, busy keep-alive connections stayed in use until the drain's end closed them
    under a request: a 503 UC at the calling sidecar, or a reset at the app, per change under
    load.) The request must be answered while the old listener still drains; a slow machine that
    misses that window gets another change, never a weaker check."""
    proxy = mesh.proxy(POD)
    admin = SidecarClient(mesh, POD)

    def draining() -> bool:
        gauges = admin.stats("listener_manager.total_")
        return any(gauges.get(f"listener_manager.total_{kind}_draining", 0)
                   for kind in ("listeners", "filter_chains"))  # fmt: skip

    for attempt in range(5):
        conn = http.client.HTTPConnection(proxy["ip"], proxy["outbound_port"], timeout=15)
        try:
            first = _get(conn)
            assert first.status == 200 and first.getheader("connection") != "close"
            mesh.wait_for(lambda: not draining(), 20, "no listener left draining")
            change = METRICS_SWITCH.format(disabled=str(attempt % 2 == 0))
            with ThreadPoolExecutor(1) as pool:  # the drain is short: watch for it meanwhile
                applied = pool.submit(apply_yaml, mesh, tmp_path, change)
                mesh.wait_for(_either(draining, applied.done), 60, "the change")
                second = _get(conn)
                in_drain = draining()
                applied.result()
        except (http.client.RemoteDisconnected, ConnectionError):
            in_drain = False  # the drain ended before the request: the window was missed
        finally:
            conn.close()
        if in_drain:
            assert second.status == 200
            assert second.getheader("connection") == "close", second.getheaders()
            return
    pytest.fail("five listener changes, and never a request answered while the old one drained")


def _get(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    """One request from the app, on its keep-alive connection to its sidecar's outbound port."""
    conn.request("GET", "http://httpbin:8000/status/200")
    response = conn.getresponse()
    response.read()
    return response


def _either(*checks: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(check() for check in checks)


OTEL_ALS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: otel
      envoyOtelAls:
        service: opentelemetry-collector.istio-system.svc.cluster.local
        port: 4317
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: otel-logging}
spec:
  accessLogging:
  - providers: [{name: otel}]
  - providers: [{name: nowhere}]
"""
"""Istio's "OpenTelemetry" access log task's provider (samples/open-telemetry/loki/iop.yaml),
before any collector runs in the mesh: the task itself is tests/e2e/test_otel_access_log_task."""


def test_an_access_log_provider_the_mesh_cannot_reach_is_said_not_silent(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    path = tmp_path / "otel.yaml"
    path.write_text(OTEL_ALS)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if "Telemetry default/otel" in line]
    assert len(warnings) == 2, result.stderr
    assert warnings[0].endswith(
        'at spec.accessLogging[0].providers[0].name: provider "otel" sends to '
        "opentelemetry-collector.istio-system.svc.cluster.local:4317, which is not a service "
        "port of the mesh: nothing is logged for it"
    ), warnings
    assert 'provider "nowhere" is defined by no extensionProviders entry' in warnings[1]
