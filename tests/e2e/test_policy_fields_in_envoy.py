"""DestinationRule fields that have no single client-visible effect, checked where Envoy holds
them: the client sidecar's own config (`pilotfish proxy-config cluster sleep-0 -o json`, read
from Envoy's admin API after Envoy ACKed it), plus traffic that must still flow. Istio's merge
rules are part of the check: a port-level `connectionPool` replaces the whole destination-level
one, a subset's `loadBalancer` replaces the destination's, `exportTo: ["."]` hides the rule from
other namespaces, and `consecutiveGatewayErrors` ejects a replica answering 503.

The mesh runs with on-demand clusters off (`PILOTFISH_ON_DEMAND_CLUSTERS=false`, so its sidecars
speak state-of-the-world ADS, Istio's default): these tests read the clusters of subsets and
services no request was routed to yet, which an on-demand sidecar only gets when it first calls
them (tests/e2e/test_bookinfo_routing.py covers that); the clusters' contents are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.httpkit import HTTPBIN, TRAFFIC_MESH, SidecarClient, apply_yaml
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, running_mesh

FLAKY = "flaky.default.svc.cluster.local"
UNLIMITED = 4294967295  # Istio's "no limit" for circuit breakers

HTTPBIN_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  exportTo: ["."]
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool:
      tcp: {maxConnections: 50, connectTimeout: 3s}
    outlierDetection:
      consecutiveGatewayErrors: 4
      interval: 2s
      baseEjectionTime: 10s
      maxEjectionPercent: 50
      minHealthPercent: 20
    portLevelSettings:
    - port: {number: 8000}
      connectionPool:
        http: {http2MaxRequests: 99}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: LEAST_REQUEST, warmupDurationSecs: 30s}
"""

FLAKY_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 50
        connectTimeout: 3s
        tcpKeepalive: {time: 60s, interval: 10s, probes: 3}
        maxConnectionDuration: 1h
      http:
        http1MaxPendingRequests: 7
        http2MaxRequests: 77
        maxRetries: 5
        maxRequestsPerConnection: 10
        idleTimeout: 30s
        h2UpgradePolicy: DO_NOT_UPGRADE
        useClientProtocol: true
    outlierDetection:
      consecutiveGatewayErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky]
  http:
  - retries: {attempts: 0}
    route: [{destination: {host: flaky}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    env = {"PILOTFISH_ON_DEMAND_CLUSTERS": "false"}
    with running_mesh(
        tmp_path_factory, TRAFFIC_MESH, env=env, mesh_config=CLUSTER_STATS_MESH
    ) as started:
        apply_yaml(started, tmp_path_factory.mktemp("rules"), HTTPBIN_RULE + "---\n" + FLAKY_RULE)
        yield started


def clusters(mesh: LocalMesh, instance: str) -> dict[str, dict[str, Any]]:
    result = mesh.pilotfish("proxy-config", "cluster", instance, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {c["name"]: c for c in json.loads(result.stdout)}  # istioctl's: a list of clusters


def test_destination_level_policy_with_port_level_override(mesh: LocalMesh) -> None:
    cluster = clusters(mesh, "sleep-0")[f"outbound|8000||{HTTPBIN}"]
    assert cluster["lbPolicy"] == "RANDOM"
    (limits,) = cluster["circuitBreakers"]["thresholds"]
    # The port-level connectionPool replaces the destination's: maxConnections and
    # connectTimeout fall back to the defaults, http2MaxRequests is the port's.
    assert limits["maxRequests"] == 99
    assert limits["maxConnections"] == UNLIMITED and cluster["connectTimeout"] == "10s"
    assert cluster["outlierDetection"] == {
        "interval": "2s",
        "baseEjectionTime": "10s",
        "maxEjectionPercent": 50,
        "enforcingSuccessRate": 0,
        "consecutiveGatewayFailure": 4,
        "enforcingConsecutiveGatewayFailure": 100,
    }
    assert cluster["commonLbConfig"]["healthyPanicThreshold"]["value"] == 20


def test_subset_load_balancers_replace_the_destinations(mesh: LocalMesh) -> None:
    found = clusters(mesh, "sleep-0")
    v1, v2 = found[f"outbound|8000|v1|{HTTPBIN}"], found[f"outbound|8000|v2|{HTTPBIN}"]
    assert v1["lbPolicy"] == "RING_HASH"
    assert v1["ringHashLbConfig"]["minimumRingSize"] == "64"
    assert v2["lbPolicy"] == "LEAST_REQUEST"
    assert v2["leastRequestLbConfig"]["slowStartConfig"]["slowStartWindow"] == "30s"
    # Everything the subset does not say is inherited.
    assert v1["outlierDetection"]["consecutiveGatewayFailure"] == 4


def test_export_to_dot_hides_the_rule_from_other_namespaces(mesh: LocalMesh) -> None:
    other = clusters(mesh, "sleep-other-0")
    assert other[f"outbound|8000||{HTTPBIN}"]["lbPolicy"] == "LEAST_REQUEST"  # Istio's default
    assert f"outbound|8000|v1|{HTTPBIN}" not in other  # no subsets without the rule
    assert SidecarClient(mesh, "sleep-other-0").request(f"http://{HTTPBIN}:8000/get").status == 200


def test_random_reaches_every_replica(mesh: LocalMesh) -> None:
    seen = SidecarClient(mesh, "sleep-0").served_by("http://httpbin:8000/get", 60)
    assert set(seen) == {"httpbin-v1-0", "httpbin-v1-1", "httpbin-v1-2", "httpbin-v2-0"}, seen


def test_connection_pool_fields(mesh: LocalMesh) -> None:
    cluster = clusters(mesh, "sleep-0")[f"outbound|8000||{FLAKY}"]
    assert cluster["connectTimeout"] == "3s"
    assert cluster["circuitBreakers"]["thresholds"][0] == {
        "maxConnections": 50,
        "maxPendingRequests": 7,
        "maxRequests": 77,
        "maxRetries": 5,
        "trackRemaining": True,
    }
    assert cluster["upstreamConnectionOptions"]["tcpKeepalive"] == {
        "keepaliveProbes": 3,
        "keepaliveTime": 60,
        "keepaliveInterval": 10,
    }
    options = cluster["typedExtensionProtocolOptions"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["commonHttpProtocolOptions"] == {
        "idleTimeout": "30s",
        "maxConnectionDuration": "3600s",
        "maxRequestsPerConnection": 10,
    }
    assert "useDownstreamProtocolConfig" in options  # useClientProtocol


def test_consecutive_gateway_errors_eject_the_replica_answering_503(mesh: LocalMesh) -> None:
    sleep = SidecarClient(mesh, "sleep-0")
    statuses = [sleep.request("http://flaky:8000/get").status for _ in range(30)]
    assert statuses.count(503) == 1, statuses  # 503 is a gateway error: one ejects it
    prefix = f"cluster.outbound|8000||{FLAKY};.outlier_detection."
    assert sleep.stat(prefix + "ejections_active") == 1
    assert sleep.stat(prefix + "ejections_enforced_consecutive_gateway_failure") >= 1
