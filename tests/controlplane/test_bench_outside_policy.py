"""bench/scale.py's check of a real Envoy's outbound traffic policy (`outside_policy`) reads the
outbound route configuration's catch-all, whatever order config_dump lists route configurations
in: an inbound one's `*` host (the pod's own port) never answers for the outside host."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from scale_proxies import outside_policy

INBOUND = {"name": "inbound|8080||", "virtual_hosts": [
    {"name": "inbound|http|8080", "domains": ["*"], "routes": [{"route": {"cluster": "x"}}]},
]}  # fmt: skip
BLOCKED = {"name": "http_proxy/127.0.0.9:8081", "domains": ["127.0.0.9:8081"],
           "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 502}}]}  # fmt: skip
PASSED = {"name": "http_proxy/127.0.0.9:8081", "domains": ["127.0.0.9:8081"],
          "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "Passthrough"}}]}  # fmt: skip


def dump(*routes: dict[str, Any]) -> str:
    configs = [{"route_config": r} for r in routes]
    return json.dumps({"configs": [{"dynamic_route_configs": configs}]})


def test_the_inbound_configuration_listed_first_is_not_read_as_the_catch_all() -> None:
    for vhost, mode in ((BLOCKED, "REGISTRY_ONLY"), (PASSED, "ALLOW_ANY")):
        outbound = {"name": "http_proxy", "virtual_hosts": [vhost]}
        assert outside_policy(dump(INBOUND, outbound), "127.0.0.9:8081") == mode
        assert outside_policy(dump(outbound, INBOUND), "127.0.0.9:8081") == mode
    assert outside_policy(dump(INBOUND), "127.0.0.9:8081") == ""
