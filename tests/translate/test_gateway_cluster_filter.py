"""Istio's PILOT_FILTER_GATEWAY_CLUSTER_CONFIG (off by default, as in Istio): a gateway gets only
the outbound clusters, and their endpoints, that its bound VirtualServices route to."""

from __future__ import annotations

from pathlib import Path

from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.translate import check_invariants, generate

GATEWAY = Path(__file__).parents[2] / "samples/bookinfo/networking/bookinfo-gateway.yaml"
PRODUCTPAGE = "outbound|9080||productpage.default.svc.cluster.local"


def test_a_filtered_gateway_keeps_only_the_clusters_its_routes_name() -> None:
    config = GATEWAY.read_text()
    full = bookinfo_push(config)
    gateway = generate(sidecar_for(full, "istio-ingressgateway-0"), full)
    services = {name for name in gateway.clusters if name.startswith("outbound|")}
    assert PRODUCTPAGE in services and len(services) > 1  # Istio's default: every service

    filtered_push = bookinfo_push(config, filter_gateway_clusters=True)
    filtered = generate(sidecar_for(filtered_push, "istio-ingressgateway-0"), filtered_push)
    assert check_invariants(filtered) == []
    assert {n for n in filtered.clusters if n.startswith("outbound|")} == {PRODUCTPAGE}
    assert set(filtered.endpoints) == {PRODUCTPAGE}
    assert "BlackHoleCluster" in filtered.clusters  # what is not a service stays
    assert filtered.listeners.keys() == gateway.listeners.keys()
    assert filtered.routes == gateway.routes

    # sidecars are not gateways: the flag leaves them every service
    sidecar = generate(sidecar_for(filtered_push, "productpage-v1-0", (9080, 19080)), filtered_push)
    assert {n for n in sidecar.clusters if n.startswith("outbound|")} >= services
