"""Istio's metrics tasks (istio.io "Tasks > Observability > Metrics") run as their pages write
them, with Istio's own files: Bookinfo from `samples/bookinfo/platform/kube/bookinfo.yaml`, a
real Prometheus from `pilotfish dashboard prometheus` (the page's `istioctl dashboard
prometheus`), the page's PromQL, and the page's `kubectl exec … -c istio-proxy -- curl
localhost:15000/stats/prometheus` as `pilotfish exec`. One mesh; tests run in order.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.e2e.telemetrykit import fetch, poll

KUBE = "samples/bookinfo/platform/kube"
NET = "samples/bookinfo/networking"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as mesh:
        mesh.apply(f"{KUBE}/bookinfo.yaml", f"{NET}/bookinfo-gateway.yaml")
        mesh.wait_for(lambda: mesh.get("/productpage").status == 200, 60, "productpage")
        # every observability task's first step: Istio's Prometheus addon
        result = mesh.pilotfish("apply", "-f", "samples/addons/prometheus.yaml")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Istio's prometheus addon is built in" in result.stdout, result.stdout
        yield mesh


def query(mesh: LocalMesh, promql: str) -> list[dict[str, Any]]:
    base = json.loads((mesh.home / "run" / "prometheus.json").read_text())["url"]
    body = json.loads(fetch(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}"))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_querying_metrics_as_the_page_does(mesh: LocalMesh) -> None:
    """Istio's "Querying Metrics from Prometheus": the addon's Service, then its PromQL."""
    listed = mesh.pilotfish("-n", "istio-system", "get", "svc", "prometheus").stdout.splitlines()
    assert listed[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    control_plane = mesh.info["api"].split("//")[1].split(":")[0]
    assert listed[1].split()[:5] == ["prometheus", "ClusterIP", control_plane, "<none>", "9090/TCP"]
    for _ in range(3):
        assert mesh.get("/productpage").status == 200
    page = 'istio_requests_total{destination_service="productpage.default.svc.cluster.local"}'
    poll(lambda: bool(query(mesh, page)), 60, "productpage's requests in Prometheus")
    rate = (
        'rate(istio_requests_total{destination_service=~"productpage.*", response_code="200"}[5m])'
    )
    poll(lambda: bool(query(mesh, rate)), 60, "the rate of productpage's 200s")


STARS = re.compile(r'<font color="red">((?:<span class="star (?:full|empty)">[^<]*</span>)+)')


def test_tcp_metrics_task_with_ratings_v2_and_its_mongodb(mesh: LocalMesh) -> None:
    """Istio's "Collecting Metrics for TCP Services": ratings v2 reads its MongoDB over TCP."""
    for step in (
        f"{KUBE}/bookinfo-ratings-v2.yaml",
        f"{KUBE}/bookinfo-db.yaml",
        f"{NET}/destination-rule-all.yaml",
        f"{NET}/virtual-service-ratings-db.yaml",
    ):
        mesh.apply(step)

    def red_stars_from_the_database() -> bool:
        page = mesh.get("/productpage").body
        return [s.count("star full") for s in STARS.findall(page)] == [5, 4]

    poll(red_stars_from_the_database, 60, "reviews v3 showing the database's 5 and 4 stars")
    for _ in range(4):
        assert mesh.get("/productpage").status == 200
    for metric in ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total"):
        promql = f'{metric}{{destination_service="mongodb.default.svc.cluster.local"}}'

        def reported(promql: str = promql) -> bool:
            found = {r["metric"]["reporter"]: r for r in query(mesh, promql)}
            # both sides, and a connection per ratings request (5 pages) from the client
            return set(found) == {"source", "destination"} and (
                float(found["source"]["value"][1]) >= 5
            )

        poll(reported, 60, f"{metric} to mongodb from both sides")
        (source,) = [r for r in query(mesh, promql) if r["metric"]["reporter"] == "source"]
        labels = source["metric"]
        assert labels["destination_version"] == "v1", labels
        assert labels["destination_workload"] == "mongodb-v1", labels
        assert labels["source_canonical_service"] == "ratings", labels
        assert labels["source_canonical_revision"] == "v2", labels
        assert labels["request_protocol"] == "tcp", labels
        # the server knows its client too (the page's output lists the source labels of both
        # reporters): from ratings-v2's certificate, under mutual TLS, from the first connection
        # on (one series: none counted before the handshake, with an unknown client)
        found = [r for r in query(mesh, promql) if r["metric"]["reporter"] == "destination"]
        assert len(found) == 1, json.dumps(found)
        (served,) = found
        labels = served["metric"]
        assert labels["source_workload"] == "ratings-v2", labels
        assert labels["source_app"] == "ratings", labels
        assert labels["source_version"] == "v2", labels
        assert labels["source_canonical_revision"] == "v2", labels
        assert labels["source_workload_namespace"] == "default", labels
        principal = "spiffe://cluster.local/ns/default/sa/bookinfo-ratings-v2"
        assert labels["source_principal"] == principal, labels
        assert labels["connection_security_policy"] == "mutual_tls", labels


CUSTOM_METRICS = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: namespace-metrics
spec:
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
      tagOverrides:
        destination_port:
          value: "string(destination.port)"
        request_host:
          value: "request.host"
"""
"""Istio's "Customizing Istio Metrics" (Telemetry API version), as the page writes it."""


def requests_total(mesh: LocalMesh, pod: str) -> list[str]:
    """`pod`'s `istio_requests_total` lines after 3 page loads, as the page checks them:
    `curl localhost:15000/stats/prometheus` in its istio-proxy container."""
    for _ in range(3):
        assert mesh.get("/productpage").status == 200
    out = mesh.pilotfish(
        "exec", pod, "-c", "istio-proxy", "--", "curl", "-sS", "localhost:15000/stats/prometheus"
    ).stdout
    return [line for line in out.splitlines() if line.startswith("istio_requests_total{")]


def test_customized_metrics_as_the_page_checks_them(mesh: LocalMesh, tmp_path: Path) -> None:
    """`string(destination.port)` is accepted by every Envoy (their CEL has no `string()`), and
    the page's check, `curl localhost:15000/stats/prometheus` in the istio-proxy container,
    shows `istio_requests_total` with Istio's labels and the two new ones."""
    apply_yaml(mesh, tmp_path, CUSTOM_METRICS)  # every proxy ACKs
    pod = mesh.pilotfish(
        "get", "pod", "-l", "app=productpage", "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout

    poll(lambda: any("request_host=" in x for x in requests_total(mesh, pod)), 60, "new labels")
    lines = requests_total(mesh, pod)
    inbound = [line for line in lines if 'reporter="destination"' in line]
    outbound = [
        line
        for line in lines
        if 'reporter="source"' in line and 'destination_service_namespace="default"' in line
    ]
    assert inbound and outbound, lines
    assert all('destination_port="9080"' in line for line in inbound), inbound
    assert any('request_host="details:9080"' in line for line in outbound), outbound
    # the client side's destination.port is the service port, as Istio's original destination
    assert all('destination_port="9080"' in line for line in outbound), outbound
    assert all('destination_workload="' in line for line in lines), lines


def test_a_string_call_inside_a_tag_value_leaves_that_tag_default(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """`'port-' + string(destination.port)`: Envoy's CEL has no `string()`, and such a value
    used to make every Envoy reject its listeners. Now `apply` warns, the tag keeps its default
    and the other override still applies, through real Envoys."""
    middle = CUSTOM_METRICS.replace(
        'value: "string(destination.port)"', "value: \"'port-' + string(destination.port)\""
    )
    path = tmp_path / "middle.yaml"
    path.write_text(middle)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tagOverrides.destination_port.value" in result.stderr, result.stderr
    assert "keeps its default value" in result.stderr, result.stderr
    pod = mesh.pilotfish(
        "get", "pod", "-l", "app=details", "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout

    def inbound() -> list[str]:
        return [x for x in requests_total(mesh, pod) if 'reporter="destination"' in x]

    poll(lambda: any("request_host=" in line for line in inbound()), 60, "request_host")
    assert not any("port-" in line for line in inbound())
    apply_yaml(mesh, tmp_path, CUSTOM_METRICS)  # back to the page's, for the tests after


ATTRIBUTEGEN = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: istio-attributegen-filter
spec:
  workloadSelector:
    labels:
      app: reviews
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      proxy:
        proxyVersion: '1\\.9.*'
      listener:
        filterChain:
          filter:
            name: "envoy.filters.network.http_connection_manager"
            subFilter:
              name: "istio.stats"
    patch:
      operation: INSERT_BEFORE
      value:
        name: istio.attributegen
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
          value:
            config:
              configuration:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: |
                  {"attributes": [{"output_attribute": "istio_operationId", "match": [
                    {"value": "GetReview", "condition": "request.method == 'GET'"}]}]}
              vm_config:
                runtime: envoy.wasm.runtime.null
                code:
                  local: { inline_string: "envoy.wasm.attributegen" }
"""
"""Istio's "Classifying Metrics Based on Request or Response" (EnvoyFilter version)."""

CLASSIFY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: classify
spec:
  selector:
    matchLabels:
      app: reviews
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
        mode: SERVER
      tagOverrides:
        request_operation:
          value: >-
            request.url_path == '/reviews' && request.method == 'GET' ? 'ListReviews' :
            request.url_path.matches('^/reviews/[[:alnum:]]*$') && request.method == 'GET'
            ? 'GetReview' : 'unknown'
        response_code:
          value: "response.code >= 200 && response.code <= 299 ? '2xx' : response.code"
"""
"""The same classification as a Telemetry tagOverrides CEL value: no Wasm."""


def test_classifying_requests_without_the_attributegen_wasm(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """The page's EnvoyFilter is accepted (its `google.protobuf.StringValue` is a type Istio
    knows) and `apply` says it reaches no proxy and how to classify here; the CEL classification
    then labels reviews' requests through real Envoys."""
    path = tmp_path / "attribute_gen_service.yaml"
    path.write_text(ATTRIBUTEGEN)
    result = mesh.pilotfish("-n", "istio-system", "apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    # its proxyVersion matches no proxy here, and its istio.stats filter is not in these Envoys
    assert "not applied: its match.proxy names a proxyVersion" in result.stderr, result.stderr
    assert "tagOverrides value in CEL" in result.stderr, result.stderr
    # the page's `kubectl -n istio-system apply -f …`: the global -n names the namespace
    listed = mesh.pilotfish("get", "envoyfilter", "-n", "istio-system").stdout
    assert "istio-attributegen-filter" in listed, listed
    apply_yaml(mesh, tmp_path, CLASSIFY)
    reviews = mesh.pilotfish(
        "get", "pod", "-l", "app=reviews", "-o", "jsonpath={.items[*].status.podIP}"
    ).stdout.split()
    assert reviews

    def classified() -> bool:
        assert mesh.get("/productpage").status == 200
        for ip in reviews:
            page = fetch(f"http://{ip}:15090/stats/prometheus")
            wanted = ('reporter="destination"', 'response_code="2xx"', 'operation="GetReview"')
            for line in page.splitlines():
                if line.startswith("istio_requests_total{") and all(w in line for w in wanted):
                    return True
        return False

    poll(classified, 60, 'reviews counting request_operation="GetReview", response_code="2xx"')


CUSTOM_TAGS = """
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata:
  name: custom-tags
  namespace: istio-system
spec:
  metrics:
    - overrides:
        - match:
            metric: REQUEST_COUNT
            mode: CLIENT
          tagOverrides:
            destination_x:
              value: upstream_peer.labels['app'].value
        - match:
            metric: REQUEST_COUNT
            mode: SERVER
          tagOverrides:
            source_x:
              value: downstream_peer.labels['app'].value
      providers:
        - name: prometheus
"""
"""Istio's "Telemetry API" metrics task (Override metrics), as written."""


def test_peer_attributes_in_tag_overrides(mesh: LocalMesh, tmp_path: Path) -> None:
    """`upstream_peer.labels['app'].value` on the client side is the server's app, and
    `downstream_peer...` on the server side the client's, as the page shows them."""
    apply_yaml(mesh, tmp_path, CUSTOM_TAGS)
    productpage = mesh.pilotfish(
        "get", "pod", "-l", "app=productpage", "-o", "jsonpath={.items[0].status.podIP}"
    ).stdout
    details = mesh.pilotfish(
        "get", "pod", "-l", "app=details", "-o", "jsonpath={.items[0].status.podIP}"
    ).stdout

    def series(ip: str, label: str) -> list[str]:
        # The Telemetry replaces listeners: a request that meets the end of a replaced listener's
        # drain on an idle pooled HTTP/1 connection gets Envoy's 503 UC (the keep-alive race,
        # istio/istio#35774; Istio's default retries do not cover it). Traffic until one 200.
        poll(lambda: mesh.get("/productpage").status == 200, 15, "a 200 from /productpage")
        page = fetch(f"http://{ip}:15090/stats/prometheus")
        return [
            line
            for line in page.splitlines()
            if line.startswith("istio_requests_total{") and f"{label}=" in line
        ]

    poll(lambda: bool(series(details, "source_x")), 60, "source_x on details")
    inbound = series(details, "source_x")
    assert all('source_x="productpage"' in line for line in inbound), inbound
    outbound = [
        line
        for line in series(productpage, "destination_x")
        if 'destination_workload="details-v1"' in line
    ]
    assert outbound, series(productpage, "destination_x")
    assert all('destination_x="details"' in line for line in outbound), outbound


def test_x_envoy_stats_as_the_page_verifies(mesh: LocalMesh) -> None:
    """The page's check, `istioctl x es POD -oprom | grep istio_requests_total`, after the
    previous test's overrides; and the other outputs istioctl has."""
    pod = mesh.pilotfish(
        "get", "pod", "-l", "app=productpage", "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout
    result = mesh.pilotfish("x", "es", pod, "-oprom")
    assert result.returncode == 0, result.stderr
    client = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("istio_requests_total{") and 'reporter="destination"' not in line
    ]
    assert any('destination_x="details"' in line for line in client), client
    merged = mesh.pilotfish("x", "envoy-stats", "-l", "app=details", "-o", "prom-merged")
    assert 'source_x="productpage"' in merged.stdout, merged.stderr
    assert "istio_agent_" in merged.stdout  # 15020: the agent's own series too
    short = mesh.pilotfish("x", "es", pod).stdout
    assert "server.live: 1" in short.splitlines(), short[:500]
    clusters = json.loads(mesh.pilotfish("x", "es", pod, "-t", "clusters", "-o", "json").stdout)
    assert "cluster_statuses" in clusters
    wrong = mesh.pilotfish("x", "es", pod, "-t", "clusters", "-o", "prom")
    assert wrong.returncode == 1
    assert "allowed formats are: json,yaml,short" in wrong.stderr, wrong.stderr
