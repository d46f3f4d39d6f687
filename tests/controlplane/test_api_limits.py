"""The API's limits: an oversized, a malformed and a deeply nested request are refused with a JSON
error (never a traceback), a burst of changes beyond the queue gets 429, and while a large change
is translated in its worker thread the API keeps answering."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from pilotfish.controlplane.api import Api
from pilotfish.controlplane.core import ChangeResult, ControlPlane
from pilotfish.controlplane.limits import MAX_PENDING_WRITES, MAX_REQUEST_BYTES
from pilotfish.xds.server import XdsServer


async def _calls(state_dir: Path) -> dict[str, Any]:
    cp = ControlPlane(state_dir)
    cp.load_state()
    registry = CollectorRegistry()
    api = Api(cp, XdsServer(cp.snapshot_for_node), registry)
    release = threading.Event()
    slow_apply = cp.apply

    def slow(*args: Any) -> ChangeResult:
        release.wait(10)  # a large change, translating in its worker thread
        return slow_apply(*args)

    cp.apply = slow  # type: ignore[assignment]
    out: dict[str, Any] = {}
    async with TestClient(TestServer(api.app())) as client:
        big = b'{"files": [["a.yaml", "' + b"x" * MAX_REQUEST_BYTES + b'"]]}'
        resp = await client.post("/api/v1/apply", data=big)
        out["big"] = (resp.status, await resp.json())
        resp = await client.post("/api/v1/apply", data=b"[" * 100_000 + b"]" * 100_000)
        out["deep"] = (resp.status, await resp.json())
        resp = await client.post("/api/v1/apply", json={"files": "not pairs"})
        out["shape"] = (resp.status, await resp.json())
        body = {"files": [["a.yaml", "kind: Nothing\n"]], "wait": False}
        burst = [
            asyncio.create_task(client.post("/api/v1/apply", json=body))
            for _ in range(MAX_PENDING_WRITES + 5)
        ]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        out["syncz"] = (await client.get("/debug/syncz")).status
        out["read_seconds"] = time.monotonic() - started
        release.set()
        statuses = [r.status for r in await asyncio.gather(*burst)]
        out["burst"] = statuses
    out["metric"] = registry.get_sample_value(
        "pilotfish_api_refused_requests_total", {"reason": "queue"}
    )
    return out


def test_api_refuses_what_is_over_its_limits_and_keeps_answering(tmp_path: Path) -> None:
    out = asyncio.run(asyncio.wait_for(_calls(tmp_path), 60))
    status, body = out["big"]
    assert status == 413 and "8 MiB an API request may be" in body["error"]
    assert body["diagnostics"][0]["level"] == "error"
    assert out["deep"][0] == 400 and "nested too deeply" in out["deep"][1]["error"]
    assert out["shape"][0] == 400 and "[source, text] pairs" in out["shape"][1]["error"]
    assert out["syncz"] == 200 and out["read_seconds"] < 5  # served during the slow change
    assert out["burst"].count(429) == 5, out["burst"]
    assert out["metric"] == 5
