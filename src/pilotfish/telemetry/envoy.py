"""Envoy protobuf helpers telemetry needs below translate: `pack` (which
`pilotfish.translate.envoy_pb` also has: telemetry cannot import it), and `alt_stat_name`, the
stats name every cluster carries, for translate, the agent's bootstrap and telemetry alike."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.message import Message


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def alt_stat_name(cluster: str) -> str:
    """Istio's `alt_stat_name` of a cluster (`DelimitedStatsPrefix`): its name and `;`, which
    the bootstrap's `cluster_name` stats tag (`^cluster(\\.(.+);)`) reads, so 15090 prints
    `envoy_cluster_upstream_rq_total{cluster_name="outbound|8000||httpbin…"}` as Istio's."""
    return f"{cluster};"
