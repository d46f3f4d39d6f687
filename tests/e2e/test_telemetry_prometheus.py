"""A real Prometheus (`pilotfish dashboard prometheus`) scraping the local Bookinfo and tcp-echo,
queried with PromQL as Istio's docs and dashboards write it. One mesh; tests run in order.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browser import Dom, dump_dom
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh
from tests.e2e.telemetrykit import KIALI_HTTP_LABELS, fetch, poll

from pilotfish.agent.service_env import tcp_service_env
from pilotfish.state_files import STORE_FILE

NET = "samples/bookinfo/networking"
REVIEWS = 'destination_service="reviews.default.svc.cluster.local"'


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        mesh.apply("samples/tcp-echo/tcp-echo-services.yaml", "samples/tcp-echo/tcp-client.yaml")
        mesh.wait_for(lambda: "tcp-client-0.default" in mesh.info["proxies"], 60, "tcp-client")
        result = mesh.pilotfish(
            "dashboard", "prometheus", "--no-browser", "--scrape-interval", "1s"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().splitlines()[-1] == prometheus_url(mesh)
        yield mesh


def prometheus_url(mesh: LocalMesh) -> str:
    """The URL `dashboard prometheus` recorded for this mesh's Prometheus."""
    return str(json.loads((mesh.home / "run" / "prometheus.json").read_text())["url"])


def query(mesh: LocalMesh, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus_url(mesh)}/api/v1/query?query={urllib.parse.quote(promql)}"
    body = json.loads(fetch(url))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by(mesh: LocalMesh, promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in query(mesh, promql)}


def test_every_sidecar_is_a_target_with_pod_and_namespace_labels(mesh: LocalMesh) -> None:
    expected = {pod.rsplit(".", 1)[0] for pod in mesh.info["proxies"]}  # NAME.NAMESPACE

    def all_up() -> bool:
        up = query(mesh, 'up{job="kubernetes-pods"} == 1')
        return {r["metric"]["pod"] for r in up} == expected

    poll(all_up, 60, "every sidecar and the gateway scraped")
    (reviews,) = query(mesh, 'up{job="kubernetes-pods", pod="reviews-v2-0"}')
    assert (
        reviews["metric"] | {"namespace": "default", "app": "reviews", "version": "v2"}
        == (reviews["metric"])
    )


SPLIT_REQUESTS = 800


def test_80_20_rule_as_request_rate_by_destination_version(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-80-20.yaml")
    promql = f'sum by (destination_version) (istio_requests_total{{reporter="source", {REVIEWS}}})'
    before = by(mesh, promql, "destination_version")
    # Envoy picks the weighted cluster at random per request: with 400 requests the share's
    # standard deviation is 2 points and 1 run in ~80 fell outside Istio's docs' +/-5 (measured
    # 0.8525 once); 800 make it 1.4 points (3.5 deviations: ~1 run in 2,500).
    mesh.served_by(SPLIT_REQUESTS, workers=8)

    def counted() -> bool:
        now = by(mesh, promql, "destination_version")
        return sum(now.values()) - sum(before.values()) >= SPLIT_REQUESTS

    poll(counted, 60, f"Prometheus to see the {SPLIT_REQUESTS} requests")
    after = by(mesh, promql, "destination_version")
    delta = {v: after.get(v, 0) - before.get(v, 0) for v in after}
    assert delta.get("v3", 0) == 0, delta
    share = delta["v1"] / (delta["v1"] + delta["v2"])
    assert 0.75 <= share <= 0.85, delta
    # the same split as a rate, as Istio's docs query it
    rate = by(
        mesh,
        "sum by (destination_version) "
        f'(rate(istio_requests_total{{{REVIEWS}, reporter="source"}}[30s]))',
        "destination_version",
    )
    assert rate["v1"] > rate["v2"] > 0, rate


def test_the_web_ui_reads_this_prometheus(mesh: LocalMesh, tmp_path: Path) -> None:
    """With a Prometheus running, the UI's graph and dashboards come from it: the first look
    already has the rates of the traffic above (its own scrape would need two rounds first)."""

    def ui(path: str) -> dict[str, Any]:
        resp = http(f"{mesh.info['api']}/ui/api/{path}")
        assert resp.status == 200, resp.body
        body: dict[str, Any] = json.loads(resp.body)
        return body

    graph = ui("graph?window=300")
    assert prometheus_url(mesh) in graph["source"], graph["source"]
    rps = {(e["source"], e["target"]): e["rps"] for e in graph["edges"]}
    v1 = rps[("svc:default/reviews", "wl:default/reviews-v1")]
    v2 = rps[("svc:default/reviews", "wl:default/reviews-v2")]
    assert v1 > v2 > 0, rps
    assert ("svc:default/reviews", "wl:default/reviews-v3") not in rps
    service_path = "dashboard/service?window=300&host=reviews.default.svc.cluster.local"
    # the graph above reads the callers' (reporter=source) series; the servers' own series reach
    # Prometheus at their sidecars' next stats flush and scrape, which may come a little later
    poll(lambda: bool(ui(service_path)["by_source"]), 30, "the server side's series")
    service = ui(service_path)
    assert prometheus_url(mesh) in service["source"]
    assert {r["source_workload"] for r in service["by_source"]} == {"productpage-v1"}
    assert service["server"]["success_rate"] == 1, service["server"]
    # latency comes from histograms, which Envoy shows only at its next stats flush (every 5 s)
    poll(lambda: ui(service_path)["server"]["p99"] is not None, 30, "the server's p99")
    dom = Dom(dump_dom(f"{mesh.info['api']}/ui/#dashboards/mesh", tmp_path))
    (shown,) = [e for e in dom.elements if e.attrs.get("id") == "metrics-source"]
    assert prometheus_url(mesh) in " ".join(shown.text), shown.text


def test_every_kiali_label_on_every_http_series(mesh: LocalMesh) -> None:
    series = query(mesh, "istio_requests_total")
    assert series
    for row in series:
        missing = [k for k in KIALI_HTTP_LABELS if k not in row["metric"]]
        assert not missing, (missing, row["metric"])
        assert row["metric"]["pod"] and row["metric"]["namespace"]


def test_mutual_tls_shows_in_connection_security_policy(mesh: LocalMesh) -> None:
    """Auto mTLS (Istio's default) between sidecars: the servers' series say `mutual_tls`, as
    Istio's "mutual TLS in the metrics" queries expect; the ingress gateway's own client side has
    no such label value to show, so only reporter="destination" is asked."""
    for _ in range(5):
        assert mesh.get("/productpage").status == 200
    promql = (
        'sum by (connection_security_policy) (istio_requests_total{reporter="destination", '
        'destination_service_name=~"productpage|reviews|details"})'
    )
    poll(lambda: "mutual_tls" in by(mesh, promql, "connection_security_policy"), 30, "mutual_tls")
    assert set(by(mesh, promql, "connection_security_policy")) == {"mutual_tls"}
    plain = 'istio_requests_total{reporter="destination", connection_security_policy="none"}'
    assert query(mesh, plain) == []


def test_5xx_rate_after_a_fault_abort(mesh: LocalMesh) -> None:
    mesh.apply(
        f"{NET}/virtual-service-reviews-test-v2.yaml",
        f"{NET}/virtual-service-ratings-test-abort.yaml",
    )
    cookie = mesh.login("jason")
    for _ in range(20):
        assert mesh.get("/productpage", headers={"cookie": cookie}).status == 200
    promql = (
        'sum(rate(istio_requests_total{reporter="source", response_code=~"5..", '
        'destination_service=~"ratings.*"}[30s]))'
    )

    def five_xx_rate() -> bool:
        # traffic keeps flowing, as in Istio's task: a series that first appears with all of its
        # count in one scrape has no rate until a later scrape sees it grow
        assert mesh.get("/productpage", headers={"cookie": cookie}).status == 200
        rows = query(mesh, promql)
        return bool(rows) and float(rows[0]["value"][1]) > 0

    poll(five_xx_rate, 60, "a 5xx rate for ratings")
    (row,) = query(
        mesh,
        'istio_requests_total{reporter="source", response_code="500", '
        'destination_service_name="ratings"}',
    )
    assert (
        row["metric"]["response_flags"] == "FI" and row["metric"]["source_workload"] == "reviews-v2"
    )


def test_p90_duration_by_destination_workload_after_a_delay(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}
    route: [{destination: {host: ratings, subset: v1}}]
""")  # fmt: skip
    cookie = mesh.login("jason")
    for _ in range(15):
        assert mesh.get("/productpage", headers={"cookie": cookie}).status == 200
    promql = (
        "histogram_quantile(0.9, sum by (le, destination_workload) (rate("
        'istio_request_duration_milliseconds_bucket{reporter="source", '
        'destination_workload="ratings-v1"}[30s])))'
    )

    def slow() -> bool:
        found = by(mesh, promql, "destination_workload")
        return found.get("ratings-v1", 0) >= 250

    poll(slow, 60, "p90 of ratings-v1 over 250 ms")
    assert by(mesh, promql, "destination_workload")["ratings-v1"] < 1000


def test_tcp_bytes_for_tcp_echo(mesh: LocalMesh) -> None:
    ip = mesh.proxy("tcp-client-0.default")["ip"]
    for i in range(5):
        assert http(f"http://{ip}:8080/echo?msg=m{i}").status == 200
    promql = 'sum by (destination_service) (istio_tcp_sent_bytes_total{reporter="source"})'
    tcp_echo = "tcp-echo.default.svc.cluster.local"
    poll(lambda: by(mesh, promql, "destination_service").get(tcp_echo, 0) > 0, 60, "tcp bytes")
    received = 'sum(istio_tcp_received_bytes_total{destination_service_name="tcp-echo"})'
    assert float(query(mesh, received)[0]["value"][1]) > 0


def _total(mesh: LocalMesh, promql: str) -> float:
    result = query(mesh, promql)
    return float(result[0]["value"][1]) if result else 0.0


def test_tcp_bytes_of_a_long_lived_connection_show_while_it_is_open(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Istio reports a TCP connection's bytes every `reportingInterval` (default 5 s) while it
    is open: a dashboard sees a long-lived stream's traffic before it ends, and the counter
    never goes back when the connection closes."""
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tcp-reporting, namespace: istio-system}
spec:
  metrics:
  - reportingInterval: 1s
""")  # fmt: skip
    client = str(mesh.proxy("tcp-client-0.default")["ip"])
    env = tcp_service_env(client, "default", [8080], mesh.home / STORE_FILE)
    target = env["TCP_ECHO_SERVICE_HOST"], int(env["TCP_ECHO_SERVICE_PORT"])
    sent = 'sum(istio_tcp_sent_bytes_total{reporter="source",source_workload="tcp-client"})'
    received = (
        'sum(istio_tcp_received_bytes_total{reporter="destination",'
        'destination_service_name="tcp-echo"})'
    )
    closed = (  # the client's report (the server's has source_workload too, by certificate)
        'sum(istio_tcp_connections_closed_total{reporter="source",source_workload="tcp-client"})'
    )
    before_sent, before_received = _total(mesh, sent), _total(mesh, received)
    before_closed = _total(mesh, closed)
    line = b"x" * 99 + b"\n"
    # the socket closes when both it and its file are closed
    with socket.create_connection(target, timeout=10) as conn, conn.makefile("rb") as replies:
        for _ in range(20):  # 2,000 bytes out; each line comes back as "one|two xxx...\n"
            conn.sendall(line)
            assert replies.readline().endswith(b"x\n")
        poll(
            lambda: (
                _total(mesh, sent) >= before_sent + 20 * 104
                and _total(mesh, received) >= before_received + 20 * 100
            ),
            60,
            "an open connection's bytes in Prometheus, on both sides",
        )
        conn.sendall(line)  # the connection was open all along
        assert replies.readline().endswith(b"x\n")
        open_sent = _total(mesh, sent)
    # the close report and the last bytes may land in different scrapes (seen in CI under load:
    # closed counted, the 21st line's bytes one scrape later): wait for both, fail on a loss
    poll(
        lambda: (
            _total(mesh, closed) > before_closed
            and _total(mesh, sent) >= max(open_sent, before_sent + 21 * 104)
        ),
        60,
        "the closed connection counted with all 21 lines' bytes",
    )
    resets = 'sum(resets(istio_tcp_sent_bytes_total{source_workload="tcp-client"}[5m]))'
    assert _total(mesh, resets) == 0
    merged = fetch(f"http://{client}:15020/stats/prometheus")
    assert "istio_tcp_sent_bytes_total{" in merged
    assert "pilotfish_open_" not in merged and "_total_open" not in merged
    mesh.pilotfish("delete", "telemetry", "tcp-reporting", "-n", "istio-system")


def test_prometheus_rule_alert_fires_and_service_monitor_scrapes_istiod(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bookinfo-rules}
spec:
  groups:
  - name: bookinfo.rules
    rules:
    - alert: BookinfoServed
      expr: >-
        sum(istio_requests_total{reporter="destination",
        destination_workload="productpage-v1"}) > 0
      labels: {severity: info}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: istio-monitor}
spec:
  selector: {matchLabels: {istio: pilot}}
  endpoints: [{port: http-monitoring}]
""")  # fmt: skip

    def firing() -> bool:
        alerts = json.loads(fetch(f"{prometheus_url(mesh)}/api/v1/alerts"))["data"]["alerts"]
        return any(
            a["labels"]["alertname"] == "BookinfoServed" and a["state"] == "firing" for a in alerts
        )

    try:
        poll(firing, 60, "the BookinfoServed alert")
    except AssertionError as exc:  # say what Prometheus holds
        rules = fetch(f"{prometheus_url(mesh)}/api/v1/rules")
        files = sorted(p.name for p in (mesh.home / "prometheus" / "rules").glob("*"))
        raise AssertionError(f"{exc}; rule files {files}; rules {rules[:1500]}") from None
    poll(
        lambda: bool(query(mesh, 'up{job="istiod", namespace="istio-system"} == 1')),
        60,
        "istiod scraped",
    )
