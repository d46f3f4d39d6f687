"""Istio's protocol selection for a Kubernetes Service port (its `kube.ConvertProtocol` and
`protocol.Parse`, the "Protocol Selection" page): `protocol: UDP`, then `appProtocol` when set
(Kubernetes' `kubernetes.io/h2c|ws|wss` first), otherwise the name's prefix; well-known ports;
and UDP ports left out of a proxy's outbound listeners and clusters."""

from __future__ import annotations

import pytest
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.protocols import HTTP2_NATIVE, kube_port_protocol
from pilotfish.registry.types import Protocol, protocol_from_port
from pilotfish.translate import check_invariants, generate

# (case, port, name, transport, appProtocol, Istio's protocol; "" = unsupported: sniffed):
# Istio's TestConvertProtocol cases, then the rest of protocol.Parse's names
ISTIO_CASES = [
    ("resolves empty", 0, "", "TCP", None, ""),
    ("resolves from protocol directly", 0, "", "UDP", None, "UDP"),
    ("UDP wins over the name", 53, "http-dns", "UDP", None, "UDP"),
    ("resolves from port name", 0, "http-something", "TCP", None, "HTTP"),
    ("prefers appProto over portName", 0, "http-something", "TCP", "https", "HTTPS"),
    ("resolves from appProto", 0, "something-httpx", "TCP", "https", "HTTPS"),
    ("an unknown appProto hides the name", 0, "http-web", "TCP", "foo", ""),
    ("an empty appProto hides the name", 0, "http-web", "TCP", "", ""),
    ("resolves grpc-web", 0, "grpc-web-x", "TCP", None, "GRPC-WEB"),
    ("grpc-web as appProtocol", 0, "x", "TCP", "grpc-web", "GRPC-WEB"),
    ("grpcweb is not grpc-web", 0, "grpcweb-x", "TCP", None, ""),
    ("resolves based on known ports", 3306, "random-name", "TCP", None, "TCP"),
    ("mongodb's port", 27017, "db", "TCP", None, "TCP"),
    ("smtp's port", 25, "", "TCP", None, "TCP"),
    ("a known name on a well-known port", 53, "http", "TCP", None, "HTTP"),
    ("standard app protocol", 3306, "random-name", "TCP", "kubernetes.io/h2c", "HTTP2"),
    ("websocket", 0, "tcp", "TCP", "kubernetes.io/ws", "HTTP"),
    ("websocket over TLS", 0, "tcp", "TCP", "kubernetes.io/wss", "HTTPS"),
    ("kubernetes.io names only from appProtocol", 0, "kubernetes.io/ws", "TCP", None, ""),
    ("case-insensitive names", 0, "HTTP2-x", "TCP", None, "HTTP2"),
    *[
        (f"parse {name}", 0, f"{name}-x", "TCP", None, name.upper())
        for name in ("tcp", "udp", "grpc", "http", "http_proxy", "http2", "https", "tls")
    ],
    *[(f"parse {name}", 0, name, "TCP", None, name.upper()) for name in ("mongo", "redis")],
    ("parse mysql", 0, "mysql", "TCP", None, "MYSQL"),
    ("h2c is not a port name", 0, "h2c", "TCP", None, ""),
]


@pytest.mark.parametrize(
    ("number", "name", "transport", "app_protocol", "expected"),
    [case[1:] for case in ISTIO_CASES],
    ids=[case[0] for case in ISTIO_CASES],
)
def test_istios_protocol_of_a_service_port(
    number: int, name: str, transport: str, app_protocol: str | None, expected: str
) -> None:
    assert kube_port_protocol(number, name, transport, app_protocol) == expected


def test_what_translation_makes_of_them() -> None:
    assert protocol_from_port("tcp", "kubernetes.io/ws") is Protocol.HTTP
    assert protocol_from_port("tcp", "kubernetes.io/wss") is Protocol.HTTPS
    # gRPC-Web is its own protocol (its listeners get the grpc_web filter), HTTP/2 upstream as
    # gRPC (Istio's IsHTTP2)
    assert protocol_from_port("grpc-web") is Protocol.GRPC_WEB
    assert protocol_from_port("x", "grpc-web") is Protocol.GRPC_WEB
    assert Protocol.GRPC_WEB in HTTP2_NATIVE and Protocol.GRPC_WEB.is_http
    assert protocol_from_port("http-web", "foo") is Protocol.UNKNOWN
    assert protocol_from_port("dns", None, 53, "UDP") is Protocol.UDP
    assert protocol_from_port("udp-stats") is Protocol.UDP
    assert protocol_from_port("db", None, 27017) is Protocol.TCP


UDP_SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  selector: {app: ratings}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: statsd, port: 8125, protocol: UDP}
"""


def test_udp_ports_get_no_outbound_listener_or_cluster() -> None:
    push = bookinfo_push(UDP_SERVICE)
    (service,) = [s for s in push.services if s.name == "dns"]
    assert [p.protocol for p in service.ports] == [Protocol.UDP, Protocol.TCP, Protocol.UDP]
    assert service.port(53) is service.ports[1]  # Istio's GetByPort passes over UDP
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assert check_invariants(resources) == []
    clusters = [name for name in resources.clusters if "dns.default" in name]
    assert clusters == ["outbound|53||dns.default.svc.cluster.local"], clusters
    everything = " ".join(str(m) for by_name in resources.values() for m in by_name.values())
    assert "8125" not in everything
