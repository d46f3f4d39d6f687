"""MeshConfig `pathNormalization` -> the connection manager's path handling (as Istio sets it).

NONE: nothing (a `DENY` on a path can be bypassed by spelling it differently); BASE (Istio's
default): RFC 3986 normalization (`/./`, `/../`, percent-decoding of unreserved characters,
backslash to slash); MERGE_SLASHES: BASE plus `//` -> `/`; DECODE_AND_MERGE_SLASHES: plus
`%2F`/`%5C` decoded before the other steps. In every mode the fragment is stripped and the
trailing dot of the host is removed, so policies and routes see the path and host the app sees.
"""

from __future__ import annotations

from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import wrappers_pb2

MODES = ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
DEFAULT = "BASE"


def apply_normalization(manager: hcm_pb2.HttpConnectionManager, mode: str = DEFAULT) -> None:
    manager.path_with_escaped_slashes_action = hcm_pb2.HttpConnectionManager.KEEP_UNCHANGED
    manager.normalize_path.CopyFrom(wrappers_pb2.BoolValue(value=mode != "NONE"))
    manager.merge_slashes = mode in ("MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES")
    if mode == "DECODE_AND_MERGE_SLASHES":
        manager.path_with_escaped_slashes_action = (
            hcm_pb2.HttpConnectionManager.UNESCAPE_AND_FORWARD
        )
    manager.strip_trailing_host_dot = True
