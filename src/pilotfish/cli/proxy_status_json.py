"""`proxy-status -o json|yaml`: the control plane's sync status as istioctl prints it (its
`printMachineReadable`): istiod's answer to the `istio.io/debug/syncz` request, an xDS
`DiscoveryResponse` as istiod's `pushXds` makes it: `versionInfo` the push version
(`2026-12-03T10:20:00Z/42`: the time of the newest push and a count, istiod's `PushVersion`),
`nonce` that version followed by a random UUID, `controlPlane` istiod's identity
(`{"Component":"istiod","ID":...,"Info":<build info>}`), and as resources Envoy's CSDS
`ClientConfig`s, one per proxy: its node (ID and the metadata Istio keeps: CLUSTER_ID,
ISTIO_VERSION, NAMESPACE) and a `genericXdsConfigs` entry per subscribed type with what
istiod's `debugSyncz` sets and nothing more: `typeUrl`, `lastUpdated` (the last send; Go's zero
time, `0001-01-01T00:00:00Z`, for a type never sent), `configStatus` (SYNCED, NOT_SENT, STALE or
ERROR) and `errorState` (Envoy's NACK). Not `versionInfo`, `clientStatus` or a nonce per type:
those are Envoy's own CSDS fields, which istiod leaves empty. JSON as protojson writes it,
indented by four blanks; YAML as sigs.k8s.io/yaml turns that JSON into YAML. Real protobuf
messages (`xds-protos`), built from the syncz rows `cli.proxy_status` reads.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.status.v3 import csds_pb2
from google.protobuf import any_pb2, struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict

from pilotfish import __version__
from pilotfish.cli.proxy_status import ISTIOD, proxy_id, type_states
from pilotfish.config.go_yaml import dump_go_yaml
from pilotfish.telemetry.exchange import DEFAULT_CLUSTER_ID

SYNCZ = "istio.io/debug/syncz"
STATUS = {
    "SYNCED": csds_pb2.SYNCED,
    "NOT SENT": csds_pb2.NOT_SENT,
    "STALE": csds_pb2.STALE,
    "NACKED": csds_pb2.ERROR,
}
GO_ZERO_TIME = -62135596800
"""Go's `time.Time{}` in Unix seconds (`0001-01-01T00:00:00Z`): istiod's LastSendTime of a type
it never sent, which it puts in `lastUpdated` all the same."""
BUILD_INFO = {
    "version": __version__,
    "revision": "unknown",
    "golang_version": "",
    "status": "unknown",
    "tag": __version__,
}
"""istiod's `version.BuildInfo` keys, all of them (Go's JSON has no omitempty there): what a
build does not stamp is `unknown` as in Istio; there is no Go toolchain to name."""


def client_config(row: dict[str, Any]) -> csds_pb2.ClientConfig:
    """One proxy's sync status as Istio's debugSyncz writes it."""
    name = proxy_id(row)
    metadata = struct_pb2.Struct()
    metadata.update(
        {
            "CLUSTER_ID": DEFAULT_CLUSTER_ID,
            "ISTIO_VERSION": __version__,
            "NAMESPACE": name.rsplit(".", 1)[-1],
        }
    )
    config = csds_pb2.ClientConfig(node=base_pb2.Node(id=name, metadata=metadata))
    nacks = {t["type_url"]: t.get("last_nack") for t in row["types"]}
    for url, (state, sent) in sorted(type_states(row).items()):
        entry = config.generic_xds_configs.add(type_url=url, config_status=STATUS[state])
        entry.last_updated.CopyFrom(_timestamp(sent))
        nack = nacks.get(url)
        if state == "NACKED" and nack:
            entry.error_state.details = str(nack.get("error_message", ""))
            entry.error_state.last_update_attempt.CopyFrom(_timestamp(sent or nack["time"]))
    return config


def _timestamp(seconds: float | None) -> timestamp_pb2.Timestamp:
    found = timestamp_pb2.Timestamp()
    if seconds is None:
        found.seconds = GO_ZERO_TIME
    else:
        found.FromNanoseconds(int(seconds * 1e9))
    return found


def syncz_response(
    proxies: list[dict[str, Any]], istiod: str, output: str, push_version: str = ""
) -> str:
    """istiod's syncz answer for `proxies` (syncz rows), as `-o json` or `-o yaml` prints it;
    `push_version` is the control plane's (`/debug/syncz`)."""
    identity = {"Component": "istiod", "ID": istiod or ISTIOD, "Info": BUILD_INFO}
    response = discovery_pb2.DiscoveryResponse(
        version_info=push_version,
        type_url=SYNCZ,
        nonce=push_version + str(uuid.uuid4()),  # istiod's nonce(): no separator
        control_plane=base_pb2.ControlPlane(identifier=json.dumps(identity, separators=(",", ":"))),
    )
    for row in proxies:
        packed = any_pb2.Any()
        packed.Pack(client_config(row))
        response.resources.append(packed)
    found = json.loads(json.dumps(MessageToDict(response)))  # plain dicts (an Any's is ordered)
    for resource in found.get("resources", []):  # protojson writes a Struct's keys sorted
        meta = resource["node"]["metadata"]
        resource["node"]["metadata"] = {k: meta[k] for k in sorted(meta)}
    if output == "yaml":  # istioctl's Fprintln after YAML's own newline: a blank line
        return dump_go_yaml(found) + "\n"
    return json.dumps(found, indent=4) + "\n"
