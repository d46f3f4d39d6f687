"""Failures of the mesh's own parts: the control plane dies, a sidecar's Envoy dies."""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.meshctl import LocalMesh

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
    bookinfo.wait_for(
        lambda: (
            "SYNCED" in bookinfo.pilotfish("proxy-status").stdout
            and bookinfo.pilotfish("proxy-status").stdout.count("SYNCED") >= 7 * 4
        ),
        what="all proxies to reconnect",
    )
    bookinfo.apply(f"{NET}/virtual-service-reviews-v2-v3.yaml")
    seen = bookinfo.served_by(40)
    assert set(seen) == {"reviews-v2-0", "reviews-v3-0"}, seen


def test_agent_restarts_a_killed_envoy(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/virtual-service-reviews-v3.yaml")
    proxy = bookinfo.info["proxies"]["reviews-v3-0"]
    old_pid = proxy["envoy_pid"]
    os.kill(old_pid, signal.SIGKILL)
    bookinfo.wait_for(
        lambda: bookinfo.info["proxies"]["reviews-v3-0"]["envoy_pid"] != old_pid,
        what="the agent to restart Envoy",
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if bookinfo.served_by(1) == {"reviews-v3-0": 1}:
            break
        time.sleep(0.2)
    assert bookinfo.served_by(10) == {"reviews-v3-0": 10}
    assert bookinfo.info["proxies"]["reviews-v3-0"]["envoy_restarts"] >= 1
