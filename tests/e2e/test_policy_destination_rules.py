"""DestinationRule traffic policies through real Envoy sidecars: circuit breaking, outlier
detection, consistent hash (header, cookie with ttl, source IP, query parameter; ring hash and
maglev) and LEAST_REQUEST, seen by a client app and in the client sidecar's Envoy counters.

One traffic mesh (`samples/httpbin/traffic`) for the module; each test applies its own rules.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import (
    FLAKY,
    HTTPBIN,
    TRAFFIC_MESH,
    SidecarClient,
    app_requests,
    apply_yaml,
)
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, Response, running_mesh

URL = "http://httpbin:8000"


def httpbin_rule(traffic_policy: str) -> str:
    """The httpbin DestinationRule (subsets v1, v2) with a top-level trafficPolicy, and a
    VirtualService sending everything to v1 (three replicas) with retries off."""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: httpbin}}
spec:
  host: httpbin
  trafficPolicy: {traffic_policy}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin]
  http:
  - retries: {{attempts: 0}}
    route: [{{destination: {{host: httpbin, subset: v1}}}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, TRAFFIC_MESH, mesh_config=CLUSTER_STATS_MESH) as started:
        yield started


@pytest.fixture(scope="module")
def sleep(mesh: LocalMesh) -> SidecarClient:
    return SidecarClient(mesh, "sleep-0")


def test_circuit_breaker_overflows_with_one_connection_and_one_pending(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    policy = (
        "{connectionPool: {tcp: {maxConnections: 1}, "
        "http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}}}"
    )
    apply_yaml(mesh, tmp_path, httpbin_rule(policy))
    overflow = f"cluster.outbound|8000|v1|{HTTPBIN};.upstream_rq_pending_overflow"
    before = sleep.stat(overflow)
    results: list[Response] = []
    lock = threading.Lock()

    start_together = threading.Barrier(3)

    def client() -> None:  # Istio's task: 3 concurrent clients, each round started together
        for _ in range(4):
            start_together.wait()
            resp = sleep.request(URL + "/delay/0.5")
            with lock:
                results.append(resp)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(r.status for r in results)
    overflowed = [r for r in results if r.status == 503]
    assert statuses[200] >= 4 and overflowed, statuses
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in overflowed)
    assert sleep.stat(overflow) - before == len(overflowed)


def test_outlier_detection_ejects_the_failing_replica(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
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
    apply_yaml(mesh, tmp_path, rules)
    app_requests(mesh, "flaky-bad-0", reset=True)
    statuses = [sleep.request("http://flaky:8000/get").status for _ in range(30)]
    assert statuses.count(503) == 1, statuses  # its first failure ejects it
    assert app_requests(mesh, "flaky-bad-0")["total"] == 1
    prefix = f"cluster.outbound|8000||{FLAKY};.outlier_detection."
    assert sleep.stat(prefix + "ejections_active") == 1
    assert sleep.stat(prefix + "ejections_enforced_consecutive_5xx") >= 1


def pinned(sleep: SidecarClient, n: int, **kw: object) -> Counter[str]:
    return sleep.served_by(URL + "/get", n, **kw)  # type: ignore[arg-type]


def test_consistent_hash_pins_header_cookie_source_ip_and_query(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    apply_yaml(
        mesh, tmp_path, httpbin_rule("{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}")
    )
    assert len(pinned(sleep, 100, headers={"x-user": "jason"})) == 1
    owners = {user: set(pinned(sleep, 5, headers={"x-user": user})) for user in "abcdefghij"}
    assert all(len(replicas) == 1 for replicas in owners.values()), owners
    assert len(set.union(*owners.values())) > 1, owners  # different users, different replicas
    apply_yaml(
        mesh,
        tmp_path,
        httpbin_rule(
            "{loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}}"
        ),
        name="maglev.yaml",
    )
    assert len(pinned(sleep, 30, headers={"x-user": "jason"})) == 1
    cookie_policy = "{loadBalancer: {consistentHash: {httpCookie: {name: pin, ttl: 60s}}}}"
    apply_yaml(mesh, tmp_path, httpbin_rule(cookie_policy), name="cookie.yaml")
    first = sleep.request(URL + "/get")
    set_cookie = first.headers.get("set-cookie", "")
    assert set_cookie.startswith("pin=") and "Max-Age=60" in set_cookie, first.headers
    cookie = set_cookie.split(";", 1)[0]
    assert pinned(sleep, 30, headers={"cookie": cookie}) == {first.headers["x-served-by"]: 30}
    apply_yaml(
        mesh,
        tmp_path,
        httpbin_rule("{loadBalancer: {consistentHash: {useSourceIp: true}}}"),
        name="source-ip.yaml",
    )
    assert len(pinned(sleep, 30)) == 1
    query = "{loadBalancer: {consistentHash: {httpQueryParameterName: u}}}"
    apply_yaml(mesh, tmp_path, httpbin_rule(query), name="query.yaml")
    for user in ("x", "y"):
        assert len(sleep.served_by(URL + f"/get?u={user}", 20)) == 1


def test_least_request_avoids_the_busy_replica(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    apply_yaml(mesh, tmp_path, httpbin_rule("{loadBalancer: {simple: LEAST_REQUEST}}"))
    slow: list[Response] = []
    holder = threading.Thread(target=lambda: slow.append(sleep.request(URL + "/delay/4")))
    holder.start()
    mesh.wait_for(
        lambda: sleep.stat(f"cluster.outbound|8000|v1|{HTTPBIN};.upstream_rq_active") == 1,
        what="the slow request to be in flight",
    )
    seen = pinned(sleep, 45)
    holder.join()
    busy = slow[0].headers["x-served-by"]
    # Round robin would give the busy replica 15 of 45; least request picks it only when both
    # of its two random choices are that replica (1 in 9: about 5, and none at all in 1 run of
    # 200: (8/9)^45, seen in CI).
    assert seen[busy] <= 10, (busy, seen)
    assert sum(seen.values()) == 45 and len(set(seen) - {busy}) == 2, seen
