"""`import pilotfish.config` stays cheap: no model is imported or built until a document needs it,
and a document imports only its own kind's models (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.config.yaml_docs import virtual_service

PROBE = """
import json, sys
import pilotfish.config as galley
before = sorted(m for m in sys.modules if m.startswith("pilotfish.config.models."))
result = galley.load(sys.stdin.read(), "vs.yaml")
after = sorted(m for m in sys.modules if m.startswith("pilotfish.config.models."))
from pilotfish.config.models.networking import VirtualServiceSpec, GatewaySpec
print(json.dumps({"ok": result.ok, "before": before, "after": after,
                  "vs_built": VirtualServiceSpec.__pydantic_complete__,
                  "gw_built": GatewaySpec.__pydantic_complete__}))
"""

VS = virtual_service("reviews", "reviews")


def test_models_are_imported_and_built_only_for_the_kinds_read() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], input=VS, capture_output=True, text=True, check=True
    )
    found = json.loads(run.stdout)
    assert found["ok"]
    assert found["before"] == []
    assert "pilotfish.config.models.networking.virtual_service" in found["after"]
    for other in ("envoy_filter", "sidecar", "destination_rule", "workload_entry"):
        assert f"pilotfish.config.models.networking.{other}" not in found["after"]
    assert not any(".security." in m or ".telemetry." in m for m in found["after"])
    assert found["vs_built"] is True
    assert found["gw_built"] is False
