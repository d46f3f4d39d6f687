"""The one Envoy protobuf helper telemetry needs that `pilotfish.translate.envoy_pb` also has:
telemetry sits below translate, so it cannot import it (translate re-exports nothing from here)."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.message import Message


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
