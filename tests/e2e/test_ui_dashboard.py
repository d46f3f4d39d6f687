"""The built-in web UI against a running Bookinfo with traffic, driven in headless Chromium:
the graph shows productpage -> reviews v1/v2 as the 80-20 rule splits it, a fault rule turns
the reviews-v2 -> ratings edge red, and the panels answer; assertions on the DOM the page's
scripts built, and screenshots kept in the test's tmp dir."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browser import Dom, dump_dom, screenshot
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh

NETWORKING = "samples/bookinfo/networking"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        mesh.apply(f"{NETWORKING}/destination-rule-all.yaml")
        mesh.apply(f"{NETWORKING}/virtual-service-reviews-80-20.yaml")
        yield mesh


def ui(mesh: LocalMesh, path: str = "") -> str:
    return f"{mesh.info['api']}/ui/{path}"


def api(mesh: LocalMesh, path: str) -> Any:
    resp = http(ui(mesh, path))
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def edges(graph: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["source"], e["target"]): e for e in graph["edges"]}


def test_cli_names_open_the_matching_views(mesh: LocalMesh) -> None:
    for kind, view in (("kiali", "#graph"), ("grafana", "#dashboards/mesh"), ("jaeger", "#traces")):
        result = mesh.pilotfish("dashboard", kind, "--no-browser")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == ui(mesh, view)
    page = http(ui(mesh))
    assert page.status == 200
    links = re.findall(r'(?:src|href)="([^"]*)"', page.body)
    assert links and all(link.startswith(("/ui/", "#")) for link in links), links  # no CDN
    for link in (x for x in links if x.startswith("/ui/static/")):
        assert http(mesh.info["api"] + link).status == 200, link


def test_graph_shows_the_80_20_split_in_the_browser(mesh: LocalMesh, tmp_path: Path) -> None:
    before = api(mesh, "api/graph?window=300")  # the first look starts the scraping
    assert "wl:default/reviews-v3" in {n["id"] for n in before["nodes"]}
    assert mesh.served_by(200, workers=4).keys() <= {"reviews-v1-0", "reviews-v2-0"}

    def split() -> dict[tuple[str, str], dict[str, Any]]:
        found = edges(api(mesh, "api/graph?window=300"))
        v1 = found.get(("svc:default/reviews", "wl:default/reviews-v1"), {}).get("rps", 0)
        v2 = found.get(("svc:default/reviews", "wl:default/reviews-v2"), {}).get("rps", 0)
        assert v1 + v2 > 0 and found[("wl:default/productpage-v1", "svc:default/reviews")]
        return found

    mesh.wait_for(lambda: bool(split()), 60, "reviews traffic in the graph")
    mesh.wait_for(  # the scrape after the last request is in
        lambda: api(mesh, "api/graph?window=300")["scrapes"] >= 3, 30, "a later scrape"
    )
    dom = Dom(dump_dom(ui(mesh, "#graph"), tmp_path))
    rps = {
        (e.attrs["data-source"], e.attrs["data-target"]): float(e.attrs["data-rps"])
        for e in dom.having("edge")
    }
    v1 = rps[("svc:default/reviews", "wl:default/reviews-v1")]
    v2 = rps[("svc:default/reviews", "wl:default/reviews-v2")]
    assert 0.7 <= v1 / (v1 + v2) <= 0.9, (v1, v2)
    assert ("svc:default/reviews", "wl:default/reviews-v3") not in rps
    assert ("wl:default/productpage-v1", "svc:default/reviews") in rps
    assert ("wl:istio-system/istio-ingressgateway", "svc:default/productpage") in rps
    assert ("wl:default/reviews-v2", "svc:default/ratings") in rps
    assert ("wl:default/reviews-v1", "svc:default/ratings") not in rps  # v1 shows no stars
    mtls = {(e.attrs["data-source"], e.attrs["data-target"]): e.attrs["data-mtls"]
            for e in dom.having("edge")}  # fmt: skip
    assert mtls[("wl:default/productpage-v1", "svc:default/reviews")] == "true"  # auto mTLS
    assert dom.having("lock")  # drawn on the mTLS edges
    nodes = {e.attrs["data-id"]: e.attrs["data-health"] for e in dom.having("node")}
    assert nodes["wl:default/reviews-v1"] == "healthy" and nodes["wl:default/reviews-v3"] == "idle"
    assert dom.having("edge", data_health="healthy")
    screenshot(ui(mesh, "#graph"), tmp_path / "graph.png", tmp_path)


def test_a_fault_rule_turns_the_ratings_edge_red(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: ratings, subset: v1}}]
""")  # fmt: skip
    api(mesh, "api/graph?window=60")
    edge = ("wl:default/reviews-v2", "svc:default/ratings")

    def red() -> bool:
        mesh.served_by(20, workers=4)
        found = edges(api(mesh, "api/graph?window=60")).get(edge)
        return found is not None and found["health"] == "failure"

    mesh.wait_for(red, 90, "the ratings edge to fail")
    dom = Dom(dump_dom(ui(mesh, "#graph"), tmp_path))
    (drawn,) = [
        e for e in dom.having("edge") if (e.attrs["data-source"], e.attrs["data-target"]) == edge
    ]
    assert drawn.attrs["data-health"] == "failure" and float(drawn.attrs["data-error-rate"]) >= 0.2
    assert "failure" in drawn.attrs["class"].split()
    rows = [
        e
        for e in dom.having("failure")
        if e.tag == "tr" and e.attrs.get("data-id") == f"{edge[0]}->{edge[1]}"
    ]
    assert len(rows) == 1  # the edge table, for narrow windows and screen readers, agrees
    screenshot(ui(mesh, "#graph"), tmp_path / "graph-fault.png", tmp_path)
    node = api(mesh, "api/node?id=svc:default/ratings&window=60")
    assert {(c["kind"], c["name"]) for c in node["config"]} >= {
        ("VirtualService", "ratings"),
        ("DestinationRule", "ratings"),
    }
    assert any(e["codes"].get("500") for e in node["inbound"])


def test_dashboards_and_control_plane_panels_render(mesh: LocalMesh, tmp_path: Path) -> None:
    mesh.served_by(10)
    mesh.wait_for(lambda: api(mesh, "api/dashboard/mesh?window=300").get("workloads"), 30,
                  "mesh dashboard rows")  # fmt: skip
    dom = Dom(dump_dom(ui(mesh, "#dashboards/mesh"), tmp_path))
    text = " ".join(t for e in dom.elements for t in e.text)
    assert "Istio Mesh Dashboard" in text and "reviews-v1" in text and "P99" in text
    service = api(mesh, "api/dashboard/service?window=300&host=reviews.default.svc.cluster.local")
    assert {r["source_workload"] for r in service["by_source"]} == {"productpage-v1"}
    assert service["server"]["p99"] is not None and 0 < service["server"]["success_rate"] <= 1
    dom = Dom(dump_dom(ui(mesh, "#controlplane"), tmp_path))
    metrics = {e.attrs["data-metric"] for e in dom.having() if "data-metric" in e.attrs}
    assert "pilot_xds_pushes" in metrics or "pilot_xds_pushes_total" in metrics, metrics
    node = Dom(dump_dom(ui(mesh, "#graph"), tmp_path, size="420,900"))  # a narrow window
    assert node.having("node", data_id="wl:default/productpage-v1")
    screenshot(ui(mesh, "#graph"), tmp_path / "graph-narrow.png", tmp_path, size="420,900")
