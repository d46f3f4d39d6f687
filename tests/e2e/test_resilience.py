"""Failures of the mesh's own parts: the control plane dies, a sidecar's Envoy dies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.e2e.meshctl import LocalMesh, gateway_nacked, sync_states

NET = "samples/bookinfo/networking"


def test_traffic_survives_control_plane_death_and_it_reconverges(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-v3.yaml")
    old_pid = bookinfo.info["control_plane_pid"]
    os.kill(old_pid, signal.SIGKILL)
    # Envoys keep serving their last config while nobody answers xDS.
    assert bookinfo.served_by(10) == {"reviews-v3-0": 10}
    bookinfo.wait_for(
        lambda: bookinfo.info["control_plane_pid"] not in (None, old_pid),
        what="the launcher to restart the control plane",
    )

    def all_synced() -> bool:
        rows = sync_states(bookinfo).values()
        # CDS LDS RDS synced; EDS too, or not subscribed by a sidecar that called nobody and so
        # holds no EDS cluster (on-demand clusters, the default)
        return len(rows) >= 7 and all(
            [r["CDS"], r["LDS"], r["RDS"]] == ["SYNCED"] * 3
            and r["EDS"] in ("SYNCED", "NOT SENT", "IGNORED")
            for r in rows
        )

    bookinfo.wait_for(all_synced, what="all proxies to reconnect")
    bookinfo.apply(f"{NET}/virtual-service-reviews-v2-v3.yaml")
    seen = bookinfo.served_by(40)
    assert set(seen) == {"reviews-v2-0", "reviews-v3-0"}, seen


def test_agent_restarts_a_killed_envoy(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/virtual-service-reviews-v3.yaml")
    proxy = bookinfo.info["proxies"]["reviews-v3-0.default"]
    old_pid = proxy["envoy_pid"]
    os.kill(old_pid, signal.SIGKILL)
    bookinfo.wait_for(
        lambda: bookinfo.info["proxies"]["reviews-v3-0.default"]["envoy_pid"] != old_pid,
        what="the agent to restart Envoy",
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if bookinfo.served_by(1) == {"reviews-v3-0": 1}:
            break
        time.sleep(0.2)
    assert bookinfo.served_by(10) == {"reviews-v3-0": 10}
    assert bookinfo.info["proxies"]["reviews-v3-0.default"]["envoy_restarts"] >= 1


def test_a_nack_is_reported_by_apply_and_proxy_status(bookinfo: LocalMesh, tmp_path: Path) -> None:
    with gateway_nacked(bookinfo, tmp_path) as (_, result):
        assert result.returncode != 0
        assert "NACK from router~" in result.stdout, result.stdout
        assert "istio-ingressgateway-0" in result.stdout and "cannot bind" in result.stdout
        gateway = "istio-ingressgateway-0.istio-system"
        assert sync_states(bookinfo)[gateway]["LDS"] == "ERROR"  # istioctl's NACKed state
        shown = bookinfo.pilotfish("proxy-status", "-o", "json", "-n", "istio-system").stdout
        assert "cannot bind" in shown, shown  # the ClientConfig's errorState
        # The gateway keeps serving its last good config.
        assert bookinfo.get("/productpage").status == 200
    assert not any("ERROR" in r.values() for r in sync_states(bookinfo).values())


def test_a_proxy_that_does_not_answer_is_named(bookinfo: LocalMesh) -> None:
    # on-demand virtual hosts (the default): a VirtualService reaches the sidecars that hold its
    # host's virtual host; productpage's holds those of details and reviews once it called them
    assert bookinfo.get("/productpage").status == 200
    envoy_pid = bookinfo.info["proxies"]["productpage-v1-0.default"]["envoy_pid"]
    os.kill(envoy_pid, signal.SIGSTOP)
    try:
        result = bookinfo.pilotfish(
            "apply", "-f", f"{NET}/virtual-service-all-v1.yaml", "--timeout", "2"
        )
    finally:
        os.kill(envoy_pid, signal.SIGCONT)
    assert result.returncode != 0, result.stdout
    assert "no answer from sidecar~" in result.stdout and "productpage-v1-0" in result.stdout
    bookinfo.wait_for(
        lambda: not any("STALE" in r.values() for r in sync_states(bookinfo).values()),
        what="ratings to catch up",
    )


RATINGS_ABORT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - fault:
      abort:
        percentage: {value: 100}
        httpStatus: 500
    route:
    - destination: {host: ratings, subset: v1}
"""


def test_a_restarted_envoy_still_receives_later_changes(
    bookinfo: LocalMesh, tmp_path: Path
) -> None:
    bookinfo.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-v3.yaml")
    old_pid = bookinfo.info["proxies"]["reviews-v3-0.default"]["envoy_pid"]
    os.kill(old_pid, signal.SIGKILL)
    # A change while that Envoy is away: the control plane forgets the disconnected proxy.
    bookinfo.apply(f"{NET}/virtual-service-ratings-test-delay.yaml")
    bookinfo.wait_for(
        lambda: (
            bookinfo.info["proxies"]["reviews-v3-0.default"]["envoy_pid"] != old_pid
            and "Listeners Match" in bookinfo.pilotfish("proxy-status", "reviews-v3-0").stdout
            and "reviews-v3-0" in bookinfo.pilotfish("proxy-status").stdout
        ),
        what="the restarted Envoy to reconnect",
    )
    path = tmp_path / "ratings-abort.yaml"
    path.write_text(RATINGS_ABORT)
    result = bookinfo.apply(str(path))
    assert "converged: 7/7" in result.stdout or "converged:" in result.stdout, result.stdout
    page = bookinfo.get("/productpage").body
    assert "Ratings service is currently unavailable" in page, page[-2000:]


MISSING_SUBSET_AND_PASSTHROUGH = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: details, subset: v9}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer: {simple: PASSTHROUGH}
"""


def test_apply_shows_what_translation_warned_about(bookinfo: LocalMesh, tmp_path: Path) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(MISSING_SUBSET_AND_PASSTHROUGH)
    result = bookinfo.apply(str(path))  # valid config: applied, converged, with warnings
    assert "converged:" in result.stdout, result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("VirtualService default/details" in w and "'v9'" in w for w in warnings), warnings
    assert any("DestinationRule default/ratings" in w and "PASSTHROUGH" in w for w in warnings)
    assert any("no usable destination: the route answers 503" in w for w in warnings)
    assert len(warnings) == len(set(warnings)) == 3, warnings  # once each, not once per proxy
