"""The Proxy <-> Envoy node codec: a gateway pod's own numTrustedProxies survives the bootstrap's
node metadata (a protobuf Struct, whose numbers are floats), and a bad one refuses the node."""

from __future__ import annotations

import pytest
from google.protobuf import json_format, struct_pb2

from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.model.proxy import Proxy, ProxyType


def _through_struct(metadata: dict[str, object]) -> dict[str, object]:
    message = struct_pb2.Struct()
    message.update(metadata)
    return dict(json_format.MessageToDict(message))


def test_num_trusted_proxies_round_trips_through_node_metadata() -> None:
    proxy = Proxy(ProxyType.SIDECAR, "127.9.0.4", "edge-0", "istio-system", num_trusted_proxies=2)
    back = proxy_from_node(proxy.id, _through_struct(node_metadata(proxy)))
    assert back.num_trusted_proxies == 2
    plain = Proxy(ProxyType.ROUTER, "127.9.0.5", "gw-0", "istio-system")
    assert "PROXY_CONFIG" not in node_metadata(plain)
    assert proxy_from_node(plain.id, node_metadata(plain)).num_trusted_proxies is None


@pytest.mark.parametrize("value", [-1, 1.5, "two", True])
def test_a_bad_num_trusted_proxies_refuses_the_node(value: object) -> None:
    proxy = Proxy(ProxyType.SIDECAR, "127.9.0.4", "edge-0", "istio-system")
    metadata = node_metadata(proxy)
    metadata["PROXY_CONFIG"] = {"gatewayTopology": {"numTrustedProxies": value}}
    with pytest.raises(ValueError, match="numTrustedProxies"):
        proxy_from_node(proxy.id, metadata)
