"""`proxy-status -o json|yaml`: istiod's syncz answer as istioctl prints it, checked field by
field against istiod's `pushXds` (the response's `versionInfo`, `nonce`, `controlPlane`) and
`debugSyncz` (what each `genericXdsConfigs` entry carries, and what it leaves out)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from pilotfish.cli.proxy_status_json import syncz_response
from pilotfish.xds.resources import CLUSTER, LISTENER, ROUTE

PUSH = "2026-12-03T10:20:00Z/42"
NODE = "sidecar~127.1.0.5~reviews-v1-0.default~default.svc.cluster.local"


def _type(url: str, sent: str = "", acked: str = "", nack: str = "") -> dict[str, Any]:
    return {
        "type_url": url,
        "subscribed": ["*"],
        "sent_version": sent,
        "sent_nonce": "3" if sent else "",
        "acked_version": acked,
        "last_nack": {"version": sent, "nonce": "3", "error_message": nack, "time": 1.5e9}
        if nack
        else None,
        "push_count": 1 if sent else 0,
        "ack_count": 1 if acked else 0,
        "nack_count": 1 if nack else 0,
        "last_ack_time": None,
        "last_send_time": 1.7e9 if sent else None,
    }


ROW = {
    "node_id": NODE,
    "types": [
        _type(CLUSTER, "v1", "v1"),
        _type(LISTENER, "v2", "v1", nack="cannot bind"),
        _type(ROUTE),
    ],
    "latest": {},
}


def test_json_is_istiods_response_with_its_push_version_and_nonce() -> None:
    text = syncz_response([ROW], "istiod-0", "json", PUSH)
    found = json.loads(text)
    assert list(found) == ["versionInfo", "resources", "typeUrl", "nonce", "controlPlane"]
    assert found["versionInfo"] == PUSH
    assert found["nonce"].startswith(PUSH)  # istiod's nonce(): the version, then a UUID
    uuid.UUID(found["nonce"][len(PUSH) :])
    identity = json.loads(found["controlPlane"]["identifier"])
    assert list(identity) == ["Component", "ID", "Info"]
    assert list(identity["Info"]) == ["version", "revision", "golang_version", "status", "tag"]
    assert text.startswith('{\n    "versionInfo": ') and text.endswith("}\n")


def test_each_type_carries_what_debug_syncz_sets_and_nothing_more() -> None:
    (config,) = json.loads(syncz_response([ROW], "istiod-0", "json", PUSH))["resources"]
    entries = {e["typeUrl"]: e for e in config["genericXdsConfigs"]}
    assert list(entries[CLUSTER]) == ["typeUrl", "lastUpdated", "configStatus"]
    assert entries[CLUSTER]["configStatus"] == "SYNCED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entries[CLUSTER]["lastUpdated"])
    assert list(entries[LISTENER]) == ["typeUrl", "lastUpdated", "configStatus", "errorState"]
    assert entries[LISTENER]["errorState"]["details"] == "cannot bind"
    # never sent: Go's zero time, as istiod's timestamppb.New(LastSendTime) writes it
    assert entries[ROUTE] == {
        "typeUrl": ROUTE,
        "lastUpdated": "0001-01-01T00:00:00Z",
        "configStatus": "NOT_SENT",
    }


def test_yaml_is_sigs_yaml_of_that_json_then_istioctls_newline() -> None:
    text = syncz_response([ROW], "istiod-0", "yaml", PUSH)
    assert "!!" not in text  # plain mappings, no Python tags
    assert text.startswith('controlPlane:\n  identifier: \'{"Component":"istiod"')
    assert f"\ntypeUrl: istio.io/debug/syncz\nversionInfo: {PUSH}\n\n" in text
    assert text.endswith("\n\n")
    assert "- '@type': type.googleapis.com/envoy.service.status.v3.ClientConfig\n" in text
