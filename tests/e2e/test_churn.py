"""Reliability under churn (issue 15): a scale-down under load loses no request (graceful drain,
as Istio: the endpoint leaves EDS first, the sidecar drains, then the pod stops), and a short soak
of config churn and control-plane kills gives no failed and no degraded page."""

from __future__ import annotations

import time
from pathlib import Path

from bench.soak import BOOKINFO, Load, Timeline, check_page, render, run_soak
from tests.e2e.meshctl import LocalMesh

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
        time.sleep(3)  # requests in flight on both replicas, each ~1 s long
        workload.write_text(REVIEWS_V3.format(replicas=1, workdir=BOOKINFO))
        bookinfo.apply(str(workload))
        bookinfo.wait_for(
            lambda: "reviews-v3-1.default" not in bookinfo.info["proxies"], 30, "the scale-down"
        )
        gone = time.monotonic()
        while time.monotonic() - gone < 3:
            time.sleep(0.1)
    finally:
        load.finish()
    bad = [(o.status, o.problem) for o in load.outcomes if o.problem]
    assert len(load.outcomes) > 40, len(load.outcomes)
    assert not bad, bad
    up_log = (bookinfo.home / "logs" / "up.log").read_text()
    assert "reviews-v3-1.default: leaving the registry, then draining for 2.0 s" in up_log
    # after the drain nothing of the pod is left running
    assert "reviews-v3-1.default" not in bookinfo.info["proxies"]


def test_short_soak_config_churn_and_control_plane_kills(
    bookinfo: LocalMesh, tmp_path: Path
) -> None:
    lines: list[str] = []
    table, notes = run_soak(
        bookinfo, 45, ("churn", "cp-kill", "delete-reapply"), rate=15, workers=6, log=lines.append
    )
    report = render(table) + "\n" + "\n".join(notes + lines)
    assert not [n for n in notes if n.startswith("pilotfish")], report
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
