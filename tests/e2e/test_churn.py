"""Reliability under churn (issue 15): a scale-down under load loses no request (graceful drain,
as Istio: the endpoint leaves EDS first, the sidecar drains, then the pod stops), and a short soak
of config churn and control-plane kills gives no failed and no degraded page."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from tests.e2e.meshctl import LocalMesh, sync_states

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from soak import BOOKINFO, run_soak
from soak_measure import Load, Timeline, check_page, render

NET = "samples/bookinfo/networking"

# Every reviews call waits 1 s for ratings (Istio's fault injection), and reviews has no retries:
# a request cut off by a pod that stops without draining shows as an error on the page.
SLOW_NO_RETRY = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {delay: {percentage: {value: 100}, fixedDelay: 1s}}
    route: [{destination: {host: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 0}
    route: [{destination: {host: reviews, subset: v3}}]
"""

REVIEWS_V3 = """\
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: reviews-v3
  labels: {{app: reviews, version: v3}}
  annotations:
    proxy.istio.io/config: '{{"terminationDrainDuration": "2s"}}'
spec:
  replicas: {replicas}
  serviceAccount: bookinfo-reviews
  command: ["python", "src/reviews/reviews.py"]
  workingDir: {workdir}
  env: {{SERVICE_VERSION: "v3", ENABLE_RATINGS: "true", STAR_COLOR: "red"}}
  ports: [9080]
"""


def _ready(mesh: LocalMesh, pod: str) -> bool:
    return bool(mesh.info["proxies"].get(pod, {}).get("ready"))


def _load_until(load: Load, count: int, since: float = 0.0, timeout: float = 60) -> None:
    """Keep the load running until `count` requests that started after `since` have finished
    (a loaded machine serves fewer per second: wait for them, with a deadline, rather than a
    fixed time)."""
    deadline = time.monotonic() + timeout
    while sum(1 for o in list(load.outcomes) if o.started >= since) < count:
        assert time.monotonic() < deadline, f"fewer than {count} requests in {timeout} s"
        time.sleep(0.1)


def test_scale_down_under_load_loses_no_request(bookinfo: LocalMesh, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(SLOW_NO_RETRY)
    workload = tmp_path / "reviews-v3.yaml"
    workload.write_text(REVIEWS_V3.format(replicas=2, workdir=BOOKINFO))
    bookinfo.apply(f"{NET}/destination-rule-all.yaml", str(rules), str(workload))
    bookinfo.wait_for(lambda: _ready(bookinfo, "reviews-v3-1.default"), 90, "a second reviews-v3")
    bookinfo.wait_for(
        lambda: set(bookinfo.served_by(6, workers=3)) == {"reviews-v3-0", "reviews-v3-1"},
        60,
        "both reviews-v3 replicas to serve",
    )
    timeline = Timeline(current=frozenset({"v3"}))
    load = Load(bookinfo.ingress, rate=12, workers=8, timeline=timeline)
    load.start()
    try:
        _load_until(load, 12)  # requests flowing to both replicas, each ~1 s long
        workload.write_text(REVIEWS_V3.format(replicas=1, workdir=BOOKINFO))
        bookinfo.apply(str(workload))
        bookinfo.wait_for(
            lambda: "reviews-v3-1.default" not in bookinfo.info["proxies"], 30, "the scale-down"
        )
        gone = time.monotonic()
        _load_until(load, 12, since=gone)  # and on the replica left, after the scale-down
        _load_until(load, 41)
    finally:
        load.finish()
    bad = [(o.status, o.problem) for o in load.outcomes if o.problem]
    assert len(load.outcomes) > 40, len(load.outcomes)
    assert not bad, bad
    up_log = (bookinfo.home / "logs" / "up.log").read_text()
    assert "reviews-v3-1.default: leaving the registry, then draining for 2.0 s" in up_log
    # after the drain nothing of the pod is left running
    assert "reviews-v3-1.default" not in bookinfo.info["proxies"]


def test_gateway_rollout_restart_under_load_loses_no_request(bookinfo: LocalMesh) -> None:
    """The one entry point restarts (a rolling update) under load: the new Envoy takes the
    listeners over before the old one drains, as Istio's hot restart did: no request fails."""
    from pilotfish.local.client import pid_alive

    gateway = "istio-ingressgateway-0.istio-system"
    before = bookinfo.info["proxies"][gateway]
    load = Load(bookinfo.ingress, rate=15, workers=6, timeline=Timeline())
    load.start()
    try:
        _load_until(load, 20)
        restarted_at = time.monotonic()
        result = bookinfo.pilotfish("rollout", "restart", "deploy/istio-ingressgateway")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "deployment.apps/istio-ingressgateway restarted" in result.stdout
        bookinfo.wait_for(lambda: not pid_alive(before["envoy_pid"]), 30, "the old Envoy to exit")
        _load_until(load, 41, since=restarted_at)
    finally:
        load.finish()
    after = bookinfo.info["proxies"][gateway]
    assert after["envoy_pid"] != before["envoy_pid"]
    assert after["envoy_epoch"] == before["envoy_epoch"] + 1
    assert after["envoy_restarts"] == before["envoy_restarts"]  # a restart, not a crash
    during = [o for o in load.outcomes if o.started >= restarted_at]
    assert len(during) > 40, len(during)
    bad = [(o.status, o.problem) for o in load.outcomes if o.problem]
    assert not bad, bad
    # a sidecar's workload: its pods are replaced, as Kubernetes replaces them
    page = bookinfo.info["proxies"]["productpage-v1-0.default"]
    replaced = bookinfo.pilotfish("rollout", "restart", "deployment/productpage-v1")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert replaced.stdout.endswith("deployment.apps/productpage-v1 restarted\n"), replaced.stdout
    now = bookinfo.info["proxies"]["productpage-v1-0.default"]
    assert now["created"] > page["created"] and now["ready"], now


def test_short_soak_config_churn_and_control_plane_kills(
    bookinfo: LocalMesh, tmp_path: Path
) -> None:
    """Each fault once (churn: ten rule changes, a control-plane kill, a delete and re-apply)
    under load. The long runs, these faults and the others over minutes: `bench/soak.py
    --duration 600` (BENCHMARKS.md, issue 15's soak)."""
    lines: list[str] = []
    faults = ("churn", "cp-kill", "delete-reapply")
    table, notes = run_soak(bookinfo, 0, faults, rate=15, workers=6, log=lines.append, rounds=1)
    report = render(table) + "\n" + "\n".join(notes + lines)
    assert not notes, report  # every change applied and converged, every proxy reconnected
    for kind in ("churn", "cp-kill"):
        assert table[kind]["requests"] > 50, report
        assert table[kind]["failed"] == 0 and table[kind]["degraded"] == 0, report


def test_check_page_flags_what_a_user_would_notice() -> None:
    assert check_page(503, "")[0] == "status 503"
    assert check_page(200, "<h4>Error fetching product reviews!</h4>")[0] == "reviews error"
    page = "<h4>Book Details</h4> <h4>Book Reviews</h4> Reviews served by: <u>reviews-v2-1</u>"
    assert check_page(200, page) == ("no stars", "v2")
    assert check_page(200, page + '<span class="star full">') == ("", "v2")
    timeline = Timeline()
    assert timeline.allowed(0, 1) == frozenset({"v1", "v2", "v3"})
    timeline.changes.append((1.0, 2.0, frozenset({"v1", "v2", "v3"}), frozenset({"v1"})))
    timeline.changes.append((10.0, 11.0, frozenset({"v1"}), frozenset({"v3"})))
    assert timeline.allowed(3, 4) == frozenset({"v1"})
    assert timeline.allowed(12, 13) == frozenset({"v3"})
    assert timeline.allowed(10.5, 12) == frozenset({"v1", "v3"})


def _rogue_xds(address: str, streams: int) -> dict[str, int]:
    """`streams` ADS streams with made-up node ids that never read, one malformed request, one
    over pilotfish's 4 MiB and one over gRPC's own 64 MiB; returns the status codes of the
    last three."""
    import asyncio
    import contextlib
    from collections import Counter

    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

    cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

    async def main() -> dict[str, int]:
        outcomes: Counter[str] = Counter()
        options = [("grpc.max_send_message_length", -1)]
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            calls = []
            for i in range(streams):
                call = stub.StreamAggregatedResources()
                request = discovery_pb2.DiscoveryRequest(type_url=cds)
                request.node.id = f"sidecar~10.9.{i // 250}.{i % 250}~rogue-{i}.default~x.svc"
                await call.write(request)
                calls.append(call)
            raw = channel.stream_stream(
                "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            oversized = b"\x0a" + b"\xff\xff\xff\x07" + b"x" * (5 << 20)
            for payload in (b"\xff" * 64, oversized, b"\x0a" * ((64 << 20) + 1)):
                bad = raw()
                with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
                    await bad.write(payload)  # gRPC may refuse it before it is all sent
                outcomes[str(await bad.code())] += 1
            for call in calls:
                call.cancel()
        return dict(outcomes)

    return asyncio.run(main())


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_rogue_xds_client_and_oversized_api_requests_do_not_disturb_the_mesh(
    bookinfo: LocalMesh,
) -> None:
    import json

    from tests.e2e.meshctl import http

    from pilotfish.local.client import owner_token

    info = bookinfo.info
    before = _rss_mib(info["control_plane_pid"])
    outcomes = _rogue_xds(info["xds"], streams=300)
    # ended as gRPC ends them (what Envoy logs as "gRPC config stream closed: 8 ..."), not OK
    assert outcomes == {"StatusCode.INTERNAL": 1, "StatusCode.RESOURCE_EXHAUSTED": 2}, outcomes
    api = info["api"]
    # a 9 MiB apply and a deeply nested one are refused with a clear error, not a traceback
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {owner_token(bookinfo.home)}",
    }
    big = json.dumps({"files": [["big.yaml", "x" * (9 << 20)]]}).encode()
    refused = http(f"{api}/api/v1/apply", data=big, headers=headers)
    assert refused.status == 413, refused
    assert "MiB an API request may be" in json.loads(refused.body)["error"]
    deep = ("[" * 5000 + "]" * 5000).encode()
    nested = http(f"{api}/api/v1/apply", data=deep, headers=headers)
    assert nested.status == 400, nested
    assert "nested too deeply" in json.loads(nested.body)["error"]
    # the mesh is undisturbed: every proxy SYNCED, a change converges, pages are complete
    # (with its subsets: the test passes alone too, not only after the others in this module)
    result = bookinfo.apply(
        f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-v3.yaml"
    )
    assert "converged" in result.stdout, result.stdout
    states = {s for row in sync_states(bookinfo).values() for s in row.values()}
    assert not states & {"STALE", "ERROR"}, states
    assert set(bookinfo.served_by(4)) <= {"reviews-v3-0", "reviews-v3-1"}
    metrics = http(f"{api}/metrics").body
    assert 'pilotfish_xds_refused_streams_total{reason="malformed"}' in metrics, metrics[-2000:]
    assert 'pilotfish_xds_refused_streams_total{reason="size"}' in metrics
    # over gRPC's own cap: refused by gRPC before pilotfish reads it, counted all the same
    assert re.search(r'pilotfish_xds_refused_streams_total\{reason="no_request"\} [1-9]', metrics)
    assert _rss_mib(info["control_plane_pid"]) < before + 300
    log = (bookinfo.home / "logs" / "controlplane.log").read_text()
    assert "refusing a request of" in log and "Traceback" not in log
    assert "ended before its first request: a message over gRPC's receive cap of 64 MiB" in log
