"""`credentialName` in a DestinationRule's client TLS, at sidecars (Istio's
`buildUpstreamClusterTLSContext`, 1.14 and later).

Istio honours it at a sidecar only when the rule that applies has a `workloadSelector`: then the
cluster originates TLS with the Secret of the sidecar's own namespace over SDS, as at gateways
(`upstream_tls.with_credentials`; a missing Secret is reported and the cluster goes without a
client certificate). A rule without a selector would hand the Secret to every sidecar it reaches,
so for SIMPLE and MUTUAL Istio gives the cluster no TLS at all (it is plaintext, which a TLS
server refuses), unless the name is a `configmap://` one, which anyone may read. Either way the
sidecar's block (`outbound.OutboundBlock`, shared) is left alone and a copy with those clusters
replaced is made, once per block and namespace (`sidecar_block`); a block none of whose clusters
names a credential is returned as it is. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.carry import carry_of
from pilotfish.translate.clusters import OutboundClusterSpec
from pilotfish.translate.outbound import OutboundBlock
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.upstream_tls import ORIGINATING_MODES, with_credentials
from pilotfish.type_urls import CLUSTER, ENDPOINT

CONFIGMAP_PREFIX = "configmap://"


@dataclass(frozen=True, eq=False)
class SidecarBlock(OutboundBlock):
    """A sidecar's outbound block with its `credentialName` clusters as Istio builds them at a
    sidecar, and the SDS secrets those clusters reference."""

    secrets: tuple[Message, ...] = ()


def _names_credential(spec: OutboundClusterSpec) -> bool:
    tls = spec.policy.tls
    name = tls.credential_name if tls is not None else None
    return (
        tls is not None
        and bool(name)
        and tls.mode in ORIGINATING_MODES
        and not str(name).startswith(CONFIGMAP_PREFIX)
    )


def _credential_specs(block: OutboundBlock, push: PushContext) -> tuple[OutboundClusterSpec, ...]:
    """The block's specs whose client TLS names a credential, once per block."""
    key = ("pilotfish.translate.sidecar_credentials.specs", id(block))
    return carry_of(push).unit(
        push, key, lambda: tuple(s for s in block.specs.values() if _names_credential(s)),
        keep=block,
    )  # fmt: skip


def sidecar_block(block: OutboundBlock, proxy: Proxy, push: PushContext) -> OutboundBlock:
    """`block` as `proxy`, a sidecar, gets it (see the module docstring)."""
    specs = _credential_specs(block, push)
    if not specs:
        return block
    selected = any(s.selected for s in specs)  # only then does the namespace matter
    key = ("pilotfish.translate.sidecar_credentials", id(block), selected and proxy.namespace)
    return carry_of(push).unit(push, key, lambda: _built(block, specs, proxy, push), keep=block)


def _built(
    block: OutboundBlock,
    specs: tuple[OutboundClusterSpec, ...],
    proxy: Proxy,
    push: PushContext,
) -> SidecarBlock:
    clusters = dict(block.resources[CLUSTER])
    notes = {h: list(n) for h, n in block.notes.items()}
    selected = {s.name: s for s in specs if s.selected}
    for spec in specs:
        if spec.selected or spec.name not in clusters:
            continue
        plain = cluster_pb2.Cluster()
        plain.CopyFrom(clusters[spec.name])
        plain.ClearField("transport_socket")
        clusters[spec.name] = plain

    def report(spec: OutboundClusterSpec, text: str) -> None:
        note = Diagnostic("warning", f"{spec.name}: {text}", kind="DestinationRule")
        notes.setdefault(spec.service.hostname, []).append(note)

    originals = [clusters[n] for n in selected if n in clusters]
    rebuilt, secrets = with_credentials(proxy, push, selected, originals, report)
    for cluster in rebuilt:
        clusters[getattr(cluster, "name", "")] = cluster
    resources = ProxyResources({CLUSTER: clusters, ENDPOINT: block.resources[ENDPOINT]})
    return SidecarBlock(
        specs=block.specs,
        resources=resources,
        notes={h: tuple(n) for h, n in notes.items() if n},
        secrets=tuple(secrets),
    )


def secrets_of(block: OutboundBlock) -> tuple[Message, ...]:
    """The SDS secrets a sidecar's block references (none for a block it shares as it is)."""
    return block.secrets if isinstance(block, SidecarBlock) else ()


__all__ = ["SidecarBlock", "secrets_of", "sidecar_block"]
