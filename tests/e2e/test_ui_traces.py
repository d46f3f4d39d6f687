"""The UI's traces view against the mesh's own trace collector (Zipkin v2 API), in headless
Chromium: a Bookinfo request traced end to end shows as a waterfall with the ingress,
productpage, details and reviews spans in parent-child order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.browser import Dom, dump_dom, screenshot
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh
from tests.e2e.telemetrykit import ISTIO_TRACING, b3


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh:
        yield mesh


def test_a_trace_waterfall_shows_the_bookinfo_spans(mesh: LocalMesh, tmp_path: Path) -> None:
    apply_yaml(mesh, tmp_path, ISTIO_TRACING)
    ui = f"{mesh.info['api']}/ui/"
    mesh.wait_for(lambda: http(ui + "api/traces/services").status == 200, 30, "the collector")
    trace_id, headers = b3()
    assert mesh.get("/productpage", headers=headers).status == 200

    def spans() -> list[dict[str, object]]:
        resp = http(f"{ui}api/traces/trace/{trace_id}")
        found: list[dict[str, object]] = json.loads(resp.body) if resp.status == 200 else []
        return found

    mesh.wait_for(lambda: len(spans()) >= 7, 60, "the trace's spans")  # Envoy flushes every 5 s
    dom = Dom(dump_dom(f"{ui}#traces/{trace_id}", tmp_path))
    rows = [e.attrs["data-service"] for e in dom.having("span-row")]
    assert len(rows) == len(spans())
    assert rows[0].startswith("istio-ingressgateway")  # the root comes first
    for service in ("productpage", "details", "reviews"):
        assert any(r.startswith(service) for r in rows), (service, rows)
    assert rows.index(next(r for r in rows if r.startswith("productpage"))) < rows.index(
        next(r for r in rows if r.startswith("details"))
    )
    bars = dom.having("span-bar")
    assert len(bars) == len(rows) and all("width:" in b.attrs["style"] for b in bars)
    screenshot(f"{ui}#traces/{trace_id}", tmp_path / "trace.png", tmp_path)
    listing = Dom(dump_dom(f"{ui}#traces", tmp_path))
    assert any(e.attrs.get("data-trace") == trace_id for e in listing.having())
