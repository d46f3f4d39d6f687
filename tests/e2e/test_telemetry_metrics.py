"""Istio's standard metrics from real Envoys (the standard build): Bookinfo, tcp-echo and a probe
app in one mesh; the tests scrape each sidecar's 15090 and 15020 as Prometheus would and check
names, labels and values as Istio's dashboards and Kiali read them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import SidecarClient, apply_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh
from tests.e2e.telemetrykit import (
    KIALI_HTTP_LABELS,
    Sample,
    fetch,
    poll,
    probe_manifest,
    scrape,
    select,
    total,
)

from pilotfish.telemetry.exchange import PEER_HEADER
from pilotfish.telemetry.labels import HTTP_LABELS, TCP_LABELS

PROBE = "http://probe:8000/headers"
PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"  # the PROXY protocol v2 signature
CLIENT = {
    "source_workload": "tcp-client",
    "source_canonical_service": "tcp-client",
    "source_canonical_revision": "latest",
    "source_workload_namespace": "default",
    "source_principal": "spiffe://cluster.local/ns/default/sa/tcp-client",
    "source_app": "tcp-client",
    "source_version": "unknown",
    "source_cluster": "Kubernetes",
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        apps = tmp_path_factory.mktemp("apps")
        (apps / "probe.yaml").write_text(probe_manifest(apps))
        mesh.apply(
            "samples/tcp-echo/tcp-echo-services.yaml",
            "samples/tcp-echo/tcp-client.yaml",
            str(apps / "probe.yaml"),
        )
        mesh.wait_for(lambda: "probe-v1-0.default" in mesh.info["proxies"], 60, "probe started")
        mesh.wait_for(
            lambda: "tcp-client-0.default" in mesh.info["proxies"], 60, "tcp-client started"
        )
        client = SidecarClient(mesh, "productpage-v1-0")
        mesh.wait_for(lambda: client.request(PROBE).status == 200, 60, "probe reachable")
        yield mesh


def _stats(mesh: LocalMesh, instance: str, port: int = 15090) -> str:
    ip = mesh.proxy(instance)["ip"]
    return f"http://{ip}:{port}/stats/prometheus"


def test_bookinfo_requests_carry_istios_labels_on_both_sides(mesh: LocalMesh) -> None:
    for _ in range(10):
        assert mesh.get("/productpage").status == 200
    url = _stats(mesh, "productpage-v1-0")

    def counted() -> bool:  # requests_total comes from the duration histogram: Envoy's flush
        samples = scrape(url)
        found = select(samples, "istio_requests_total", reporter="destination")
        outbound = select(
            samples, "istio_requests_total", reporter="source", destination_service_name="reviews"
        )
        return (
            total(found, "istio_requests_total", source_workload="istio-ingressgateway") >= 10
            and sum(s.value for s in outbound) >= 10
        )

    poll(counted, what="productpage's inbound and outbound requests")
    samples = scrape(url)
    (server,) = select(
        samples, "istio_requests_total", reporter="destination",
        source_workload="istio-ingressgateway", response_code="200",
    )  # fmt: skip
    assert list(server.labels) == list(HTTP_LABELS)
    assert (
        server.labels
        | {
            "source_workload_namespace": "istio-system",
            "source_canonical_service": "istio-ingressgateway",
            "source_canonical_revision": "latest",
            # auto mTLS (Istio's default): the gateway's identity, from its certificate
            "source_principal": (
                "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
            ),
            "destination_workload": "productpage-v1",
            "destination_workload_namespace": "default",
            "destination_service": "productpage.default.svc.cluster.local",
            "destination_service_name": "productpage",
            "destination_service_namespace": "default",
            "destination_canonical_service": "productpage",
            "destination_canonical_revision": "v1",
            "destination_app": "productpage",
            "destination_version": "v1",
            "destination_cluster": "Kubernetes",
            "request_protocol": "http",
            "grpc_response_status": "",
            "response_flags": "-",
            "connection_security_policy": "mutual_tls",
        }
        == server.labels
    )
    to_reviews = select(
        samples, "istio_requests_total", reporter="source", destination_service_name="reviews"
    )
    assert {s.labels["destination_workload"] for s in to_reviews} <= {
        "reviews-v1", "reviews-v2", "reviews-v3",
    }  # fmt: skip
    assert sum(s.value for s in to_reviews) >= 10
    for series in to_reviews:
        assert series.labels["source_workload"] == "productpage-v1"
        assert series.labels["destination_version"] == series.labels["destination_workload"][-2:]
        assert series.labels["connection_security_policy"] == "unknown"  # Istio: client side
    for series in select(samples, "istio_requests_total"):
        missing = [k for k in KIALI_HTTP_LABELS if not series.labels.get(k)]
        assert not missing, (missing, series.labels)


def test_duration_and_size_histograms_use_istios_buckets(mesh: LocalMesh) -> None:
    url = _stats(mesh, "productpage-v1-0")
    name = "istio_request_duration_milliseconds_bucket"
    poll(lambda: total(scrape(url), name, reporter="destination", le="+Inf") > 0, 30, name)
    samples = scrape(url)
    buckets = sorted({float(s.labels["le"]) for s in select(samples, name)} - {float("inf")})
    assert buckets == [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                       60000, 300000, 600000, 1800000, 3600000]  # fmt: skip
    for family in ("istio_request_bytes", "istio_response_bytes"):
        assert total(samples, f"{family}_sum", reporter="destination") > 100, family


def test_15090_has_istio_names_and_15020_merges_envoy_agent_and_app(mesh: LocalMesh) -> None:
    raw = fetch(_stats(mesh, "probe-v1-0"))
    assert "envoy_istio_" not in raw
    assert "envoy_cluster_upstream_rq" in raw or "envoy_server_live" in raw  # Envoy's own stats
    client = SidecarClient(mesh, "productpage-v1-0")
    assert client.request(PROBE).status == 200

    def merged() -> bool:
        samples = scrape(_stats(mesh, "probe-v1-0", 15020))
        return (
            total(samples, "istio_requests_total", reporter="destination") > 0
            and total(samples, "probe_app_hits_total") > 0
            and total(samples, "istio_build", component="proxy") == 1
            and total(samples, "envoy_server_live") == 1
        )

    poll(merged, what="15020 merging Envoy, agent and app metrics")


def test_15090_serves_istios_inclusion_lists_not_every_envoy_stat(mesh: LocalMesh) -> None:
    """Istio's bootstrap keeps Istio's metrics and the stats its inclusion lists name (server,
    cluster_manager, listener_manager, cluster.xds-grpc, rbac, ...): the Prometheus page shows
    no outbound cluster's stats unless the pod asks (`proxyStatsMatcher`), and Envoy does not even
    create them (the bootstrap's `stats_matcher`): the admin has none either."""
    assert mesh.get("/productpage").status == 200
    page = fetch(_stats(mesh, "productpage-v1-0"))
    clusters = set(re.findall(r'cluster_name="([^"]*)"', page))
    assert clusters == {"xds-grpc"}, clusters
    kept = ("envoy_server_live", "envoy_cluster_manager_active_clusters",
            "envoy_listener_manager_total_listeners_active", "istio_requests_total")  # fmt: skip
    for family in kept:
        assert f"\n{family}" in page or f"\n# TYPE {family} " in page, family
    assert "authz_enforce_result=" in page  # the inbound connection manager's rbac counters
    admin = fetch(_stats(mesh, "productpage-v1-0", 15000))
    assert "envoy_server_live" in admin and 'cluster_name="outbound|' not in admin
    used = fetch(_stats(mesh, "productpage-v1-0") + "?usedonly")  # the request's own query
    assert "envoy_server_live" in used and "outbound|" not in used
    merged = fetch(_stats(mesh, "productpage-v1-0", 15020))
    assert set(re.findall(r'cluster_name="([^"]*)"', merged)) == {"xds-grpc"}
    probe = set(re.findall(r'cluster_name="([^"]*)"', fetch(_stats(mesh, "probe-v1-0"))))
    assert any(name.startswith("outbound|") for name in probe), probe


def test_peer_header_never_reaches_apps_and_cannot_be_forged(mesh: LocalMesh) -> None:
    client = SidecarClient(mesh, "productpage-v1-0")
    forged = "evil;hacked;evil;v9;evil;v9;Mars"
    resp = client.request(PROBE, headers={PEER_HEADER: forged})
    assert resp.status == 200
    assert PEER_HEADER not in {k.lower() for k in json.loads(resp.body)}  # the app saw none
    assert PEER_HEADER not in resp.headers  # the calling app gets none back
    url = _stats(mesh, "probe-v1-0")
    poll(lambda: total(scrape(url), "istio_requests_total", reporter="destination") > 0)
    seen = {s.labels["source_workload"] for s in select(scrape(url), "istio_requests_total")}
    assert seen == {"productpage-v1"}, seen
    # A caller outside the mesh (no sidecar) is `unknown`, whatever header it sends.
    ip = mesh.proxy("probe-v1-0")["ip"]
    direct = http(f"http://{ip}:8080/headers", headers={PEER_HEADER: forged})
    assert direct.status == 200 and PEER_HEADER not in json.loads(direct.body)


def test_fault_abort_shows_as_503_with_the_fault_flag(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: probe}
spec:
  hosts: [probe]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: probe}}]
""")  # fmt: skip
    client = SidecarClient(mesh, "productpage-v1-0")
    mesh.wait_for(lambda: client.request(PROBE).status == 503, what="the abort")
    url = _stats(mesh, "productpage-v1-0")
    poll(
        lambda: total(
            scrape(url), "istio_requests_total", reporter="source", response_code="503",
            response_flags="FI", destination_service_name="probe",
        ) > 0,
        what="a 503 FI series",
    )  # fmt: skip
    mesh.pilotfish("delete", "virtualservice", "probe")


def test_tcp_metrics_for_tcp_echo(mesh: LocalMesh) -> None:
    ip = mesh.proxy("tcp-client-0")["ip"]
    for i in range(6):
        resp = http(f"http://{ip}:8080/echo?msg=hello{i}")
        assert resp.status == 200 and resp.body.strip().endswith(f"hello{i}"), resp.body
    url = _stats(mesh, "tcp-client-0")
    name = "istio_tcp_connections_closed_total"
    poll(lambda: total(scrape(url), name, reporter="source") >= 6, what=name)
    samples = scrape(url)
    for series in select(samples, "istio_tcp_sent_bytes_total", reporter="source"):
        assert list(series.labels) == list(TCP_LABELS)
        assert series.labels["destination_workload"] in ("tcp-echo-v1", "tcp-echo-v2")
        assert series.labels["destination_service"] == "tcp-echo.default.svc.cluster.local"
        assert series.labels["request_protocol"] == "tcp"
        assert series.labels["source_workload"] == "tcp-client"
    assert total(samples, "istio_tcp_connections_opened_total", reporter="source") >= 6
    # each exchange sends "helloN\n" (7 bytes) and gets back "one|two helloN\n" (11 bytes)
    assert total(samples, "istio_tcp_received_bytes_total", reporter="source") >= 6 * 7
    assert total(samples, "istio_tcp_sent_bytes_total", reporter="source") >= 6 * 11
    echo = [n for n in mesh.info["proxies"] if n.startswith("tcp-echo-")]
    served = sum(
        total(scrape(_stats(mesh, n)), "istio_tcp_connections_closed_total",
              reporter="destination", destination_service_name="tcp-echo")
        for n in echo
    )  # fmt: skip
    assert served >= 6


def test_curls_to_the_pods_own_envoy_admin_are_not_counted(mesh: LocalMesh) -> None:
    """`kubectl exec POD -c istio-proxy -- curl localhost:15000/...` (Istio's tasks read stats so)
    never passes a listener in Istio. Local mode's apps reach their Envoy admin through their
    sidecar's HTTP proxy, whose metric loggers leave those requests out."""
    url = _stats(mesh, "productpage-v1-0")

    def admin_counted() -> float:
        return total(scrape(url), "istio_requests_total", reporter="source",
                     destination_service="unknown")  # fmt: skip

    before = admin_counted()
    for path in ("localhost:15000/server_info", "127.0.0.1:15000/stats/prometheus",
                 "localhost:15090/stats/prometheus"):  # fmt: skip
        done = mesh.pilotfish("exec", "productpage-v1-0", "-c", "istio-proxy", "--",
                              "curl", "-sf", "-o", "/dev/null", path)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    # a request after them (the only 404 to probe), counted: so are they, if they ever are
    missing = PROBE.replace("/headers", "/missing")
    assert SidecarClient(mesh, "productpage-v1-0").request(missing).status == 404
    poll(lambda: total(scrape(url), "istio_requests_total", reporter="source",
                       destination_service_name="probe", response_code="404") == 1,
         what="the 404 counted")  # fmt: skip
    assert admin_counted() == before


def _served(mesh: LocalMesh, **labels: str) -> list[Sample]:
    echo = [n for n in mesh.info["proxies"] if n.startswith("tcp-echo-")]
    return [
        s
        for n in echo
        for s in select(scrape(_stats(mesh, n)), "istio_tcp_connections_closed_total",
                        reporter="destination", **labels)
    ]  # fmt: skip


def test_a_tcp_server_knows_its_client_by_certificate_and_nothing_else(mesh: LocalMesh) -> None:
    """Istio's "Collecting Metrics for TCP Services" reads source labels at the destination: the
    server learns its client from the peer certificate (`telemetry.exchange.principal_table`),
    never from anything a client sends, so a plaintext client is Istio's unknown peer whatever
    it sends."""
    ip = mesh.proxy("tcp-client-0")["ip"]
    for i in range(3):
        assert http(f"http://{ip}:8080/echo?msg=cert{i}").status == 200
    poll(lambda: sum(s.value for s in _served(mesh, source_workload="tcp-client")) >= 3,
         what="tcp-echo's series of tcp-client")  # fmt: skip
    for series in _served(mesh, source_workload="tcp-client"):
        assert list(series.labels) == list(TCP_LABELS)
        assert series.labels | CLIENT == series.labels, series.labels
        assert series.labels["connection_security_policy"] == "mutual_tls"
    # Attackers send a PROXY protocol v2 header with a made-up source address and identity TLV,
    # then a forged peer header line: from a mesh app (through its sidecar, inside mutual TLS),
    # and from outside the mesh, straight to a server's port (PERMISSIVE: plaintext is served).
    server = mesh.proxy("tcp-echo-v1-0")["ip"]
    identity = b"ratings-v9;default;ratings;v9;ratings;v9;Kubernetes"
    tlv = bytes([0xE0]) + len(identity).to_bytes(2, "big") + identity
    addresses = socket.inet_aton("10.9.9.9") + socket.inet_aton(server) + bytes(4)
    header = PROXY_V2 + bytes([0x21, 0x11]) + (len(addresses) + len(tlv)).to_bytes(2, "big")
    forged = header + addresses + tlv + f"{PEER_HEADER}: {identity.decode()}\n".encode()
    mine = sum(s.value for s in _served(mesh, source_workload="tcp-client"))
    for target in ((ip, 9000), (server, 9000)):  # tcp-client's sidecar; tcp-echo-v1's own port
        with socket.create_connection(target, timeout=10) as conn:
            conn.sendall(forged)
            assert conn.recv(1024)  # served: the echo answers
    poll(lambda: sum(s.value for s in _served(mesh, connection_security_policy="none")) >= 1
         and sum(s.value for s in _served(mesh, source_workload="tcp-client")) > mine,
         what="the attackers' connections counted")  # fmt: skip
    assert not _served(mesh, source_workload="ratings-v9")
    for series in _served(mesh, connection_security_policy="none"):
        assert series.labels["source_workload"] == "unknown", series.labels
        assert series.labels["source_principal"] == "unknown", series.labels
        assert series.labels["source_workload_namespace"] == "unknown", series.labels


def test_telemetry_api_disables_a_metric_removes_and_adds_tags(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: probe-metrics, namespace: default}
spec:
  selector: {matchLabels: {app: probe}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_SIZE, mode: SERVER}
      disabled: true
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        request_protocol: {operation: REMOVE}
        team: {value: "request.headers['x-team']"}
""")  # fmt: skip
    client = SidecarClient(mesh, "productpage-v1-0")
    url = _stats(mesh, "probe-v1-0")

    def tagged() -> bool:
        assert client.request(PROBE, headers={"x-team": "blue"}).status == 200
        return bool(select(scrape(url), "istio_requests_total", team="blue"))

    poll(tagged, 30, "requests counted with the team tag")
    # the new config is in force; the listener it replaced drains for a second, and its
    # logger's series go with it: count from after that
    time.sleep(3)
    samples = scrape(url)
    (series,) = select(samples, "istio_requests_total", team="blue")
    assert "request_protocol" not in series.labels
    assert series.labels["reporter"] == "destination"
    before = total(samples, "istio_request_bytes_count", reporter="destination")
    responses = total(samples, "istio_response_bytes_count", reporter="destination")
    for _ in range(3):
        assert client.request(PROBE, headers={"x-team": "blue"}).status == 200
    name = "istio_response_bytes_count"  # histograms reach Prometheus at Envoy's stats flush
    poll(lambda: total(scrape(url), name, reporter="destination") >= responses + 3, 30, name)
    # REQUEST_SIZE is off on the server side: its count does not move while the others do
    assert total(scrape(url), "istio_request_bytes_count", reporter="destination") == before
    # the probe calling itself: its client side counts requests with the duration histogram
    # (no override there), its server side with the tagged counter; one family on 15090
    durations = "istio_request_duration_milliseconds_count"
    served = total(scrape(url), durations, reporter="destination")
    own = SidecarClient(mesh, "probe-v1-0")
    assert own.request(PROBE, headers={"x-team": "blue"}).status == 200

    def both() -> bool:
        samples = scrape(url)  # asserts each family is printed once
        mine = select(samples, "istio_requests_total", reporter="source")
        return bool(mine) and total(samples, durations, reporter="destination") == served + 1

    poll(both, 30, "the probe's client and server requests")
    (mine,) = select(scrape(url), "istio_requests_total", reporter="source")
    assert list(mine.labels) == list(HTTP_LABELS) and mine.value == 1
    assert mine.labels["source_workload"] == mine.labels["destination_workload"] == "probe-v1"
    # Deleting it replaces the listener again, with no traffic while the old one drains: Envoy
    # frees that listener's series (15090), 15020 keeps them and counts on from there
    merged, count = _stats(mesh, "probe-v1-0", 15020), "istio_request_duration_milliseconds_count"
    kept = total(scrape(merged), count, reporter="destination")
    admin = f"http://{mesh.proxy('probe-v1-0')['ip']}:15000/stats?filter=^listener_manager\\."

    def listeners() -> tuple[int, int]:  # (updates, still draining)
        stats = dict(line.split(": ", 1) for line in fetch(admin).splitlines())
        updates = int(stats["listener_manager.listener_in_place_updated"])
        updates += int(stats["listener_manager.listener_modified"])
        draining = int(stats["listener_manager.total_filter_chains_draining"])
        return updates, draining + int(stats["listener_manager.total_listeners_draining"])

    updated = listeners()[0]
    mesh.pilotfish("delete", "telemetry", "probe-metrics")
    poll(lambda: listeners()[0] > updated and not listeners()[1], 30, "the old listener drained")
    assert not select(scrape(url), count, reporter="destination")  # gone from Envoy's own
    assert total(scrape(merged), count, reporter="destination") == kept
    assert client.request(PROBE).status == 200
    poll(lambda: total(scrape(merged), count, reporter="destination") == kept + 1, 30, "+1")
    assert total(scrape(url), count, reporter="destination") == 1  # Envoy counted from zero


def test_no_sidecar_logs_a_deprecation_warning(mesh: LocalMesh) -> None:
    """After Bookinfo's traffic (every test above), no Envoy warns about a deprecated field:
    the metric loggers use `stats_scope`, not Envoy 1.40's deprecated `stat_prefix`."""
    assert mesh.get("/productpage").status == 200
    logs = sorted((mesh.home / "run").glob("*/envoy.log"))
    assert len(logs) >= len(mesh.info["proxies"]) >= 8
    for log in logs:
        warned = [line for line in log.read_text().splitlines() if "deprecated" in line.lower()]
        assert not warned, (log, warned[:3])


def _grpc_frames(*messages: bytes) -> bytes:
    return b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in messages)


def test_grpc_calls_count_their_messages_on_both_sides(mesh: LocalMesh) -> None:
    """A bidirectional gRPC call with 3 request messages (each echoed): Istio's message counters
    on the client's and the server's sidecar, with `request_protocol="grpc"`."""
    mesh.apply("samples/grpc-echo/grpc-echo.yaml")
    mesh.wait_for(lambda: "grpc-echo-v1-0.default" in mesh.info["proxies"], 60, "grpc-echo")
    client = SidecarClient(mesh, "productpage-v1-0")
    headers = {"content-type": "application/grpc", "te": "trailers"}
    calls = 0

    def called() -> bool:
        nonlocal calls
        answer = client.request(
            "http://grpc-echo:7070/pilotfish.Echo/Stream", "POST", headers,
            _grpc_frames(b"a", b"b", b"c"),
        )  # fmt: skip
        calls += answer.status == 200 and answer.body.count("one ") == 3
        return calls >= 2

    poll(called, 60, "two streaming calls answered")
    server, source = _stats(mesh, "grpc-echo-v1-0"), _stats(mesh, "productpage-v1-0")
    for url, reporter in ((server, "destination"), (source, "source")):
        labels = {
            "reporter": reporter,
            "destination_workload": "grpc-echo-v1",
            "response_code": "200",
        }

        def counted(url: str = url, labels: dict[str, str] = labels) -> bool:
            samples = scrape(url)
            return (
                total(samples, "istio_request_messages_total", **labels) >= 3 * calls
                and total(samples, "istio_requests_total", **labels) >= calls
            )

        poll(counted, 30, f"message counts ({reporter})")
        samples = scrape(url)
        assert total(samples, "istio_request_messages_total", **labels) == 3 * calls
        assert total(samples, "istio_response_messages_total", **labels) == 3 * calls
        (series,) = select(samples, "istio_request_messages_total", **labels)
        assert list(series.labels) == list(HTTP_LABELS)
        assert series.labels["request_protocol"] == "grpc"
        assert series.labels["source_workload"] == "productpage-v1"
        (requests,) = select(samples, "istio_requests_total", **labels)
        assert requests.value == calls and requests.labels["request_protocol"] == "grpc"


PROBE_UNCOUNTED = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: probe-uncounted, namespace: default}
spec:
  selector: {matchLabels: {app: probe}}
  metrics: [{overrides: [{match: {metric: ALL_METRICS, mode: SERVER}, disabled: true}]}]
"""


def test_a_server_counting_nothing_still_hides_the_peer_header(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """With its server-side metrics off, the probe's sidecar no longer reads its clients'
    identity; its inbound routes remove the header instead: neither a caller through a sidecar
    nor one outside the mesh gets it to the app."""
    apply_yaml(mesh, tmp_path, PROBE_UNCOUNTED)
    client = SidecarClient(mesh, "productpage-v1-0")
    ip = mesh.proxy("probe-v1-0")["ip"]
    time.sleep(3)  # the replaced listener drains for a second: later requests reach the new one
    try:
        for _ in range(3):
            resp = client.request(PROBE, headers={PEER_HEADER: "evil;hacked"})
            assert resp.status == 200
            assert PEER_HEADER not in {k.lower() for k in json.loads(resp.body)}, resp.body
        direct = http(f"http://{ip}:8080/headers", headers={PEER_HEADER: "evil;hacked"})
        assert direct.status == 200 and PEER_HEADER not in json.loads(direct.body)
        # and it counts nothing (its sidecar's config has the Telemetry)
        url = _stats(mesh, "probe-v1-0")
        served = total(scrape(url), "istio_requests_total", reporter="destination")
        assert client.request(PROBE).status == 200
        time.sleep(1)
        assert total(scrape(url), "istio_requests_total", reporter="destination") <= served
    finally:
        mesh.pilotfish("delete", "telemetry", "probe-uncounted")
