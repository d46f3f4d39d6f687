"""Translation of the non-HTTP half: tcp/tls routes, ServiceEntry clusters, Sidecar scoping,
Gateway TLS servers and their SDS secrets. Every snapshot passes the invariants."""

from __future__ import annotations

import dataclasses

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.push_context import PushContext
from pilotfish.registry.tcp_ports import outbound_tcp_ports, service_environment
from pilotfish.registry.types import TlsSecret
from pilotfish.translate import ProxyResources, check_invariants, generate

TCP = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: ratings}
  ports: [{name: tcp, port: 9000}, {name: tls, port: 9443}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo, a.example]  # Istio: every SNI host is covered by a VirtualService host
  tls:
  - match: [{port: 9443, sniHosts: [a.example]}]
    route: [{destination: {host: echo, port: {number: 9443}, subset: v2}}]
  tcp:
  - match: [{port: 9000, sourceLabels: {app: nobody}}]
    route: [{destination: {host: echo, port: {number: 9000}, subset: v2}}]
  - match: [{port: 9000}, {port: 9443}]
    route:
    - {destination: {host: echo, port: {number: 9000}, subset: v1}, weight: 80}
    - {destination: {host: echo, port: {number: 9000}, subset: v2}, weight: 20}
"""


def build(push: PushContext, instance: str = "productpage-v1-0") -> ProxyResources:
    resources = generate(sidecar_for(push, instance, (9080, 19080)), push)
    assert check_invariants(resources) == []
    return resources


def _tcp_proxy(listener: object, chain: int = -1) -> tcp_proxy_pb2.TcpProxy:
    assert isinstance(listener, listener_pb2.Listener)
    proxy = tcp_proxy_pb2.TcpProxy()
    assert listener.filter_chains[chain].filters[-1].typed_config.Unpack(proxy)
    return proxy


def test_tcp_routes_weights_and_source_labels() -> None:
    push = bookinfo_push(TCP)
    resources = build(push)
    ip = sidecar_for(push, "productpage-v1-0").ip
    proxy = _tcp_proxy(resources.listeners[f"outbound_{ip}_9000"])
    weights = {c.name: c.weight for c in proxy.weighted_clusters.clusters}
    assert weights == {
        "outbound|9000|v1|echo.default.svc.cluster.local": 80,
        "outbound|9000|v2|echo.default.svc.cluster.local": 20,
    }


def test_tls_routes_by_sni_with_tcp_fallback() -> None:
    push = bookinfo_push(TCP)
    ip = sidecar_for(push, "productpage-v1-0").ip
    listener = build(push).listeners[f"outbound_{ip}_9443"]
    assert isinstance(listener, listener_pb2.Listener)
    assert [f.name for f in listener.listener_filters] == ["envoy.filters.listener.tls_inspector"]
    assert list(listener.filter_chains[0].filter_chain_match.server_names) == ["a.example"]
    assert _tcp_proxy(listener, 0).cluster == "outbound|9443|v2|echo.default.svc.cluster.local"
    assert len(_tcp_proxy(listener, 1).weighted_clusters.clusters) == 2


def test_listen_ports_avoid_clashes_and_feed_the_environment() -> None:
    push = bookinfo_push(TCP)
    (echo,) = [s for s in push.services if s.name == "echo"]
    ports = outbound_tcp_ports([echo], inbound_ports=[9000])
    assert [p.listen_port for p in ports][1] == 9443
    assert 20000 <= ports[0].listen_port < 30000
    env = service_environment("127.0.0.9", "default", ports)
    assert env["ECHO_SERVICE_HOST"] == "127.0.0.9"
    assert env["ECHO_SERVICE_PORT_TCP"] == str(ports[0].listen_port)


ENTRIES = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dns}
spec:
  hosts: [api.example]
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm}
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1}
spec: {address: 127.9.9.9, labels: {app: vm}, ports: {http: 18000}}
"""


def test_service_entry_clusters_and_workload_entry_endpoints() -> None:
    push = bookinfo_push(ENTRIES)
    resources = build(push)
    dns = resources.clusters["outbound|443||api.example"]
    assert isinstance(dns, cluster_pb2.Cluster) and dns.type == cluster_pb2.Cluster.STRICT_DNS
    address = dns.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("api.example", 443)
    assignment = resources.endpoints["outbound|8000||vm.example"]
    (endpoint,) = assignment.endpoints[0].lb_endpoints
    assert endpoint.endpoint.address.socket_address.port_value == 18000


VM_2 = """
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: vm-2}}
spec: {{address: {address}, labels: {{app: vm}}, ports: {{http: 18000}}}}
"""


def _binds_any(resources: ProxyResources, host: str, port: int) -> bool:
    cluster = resources.clusters[f"outbound|{port}||{host}"]
    assert isinstance(cluster, cluster_pb2.Cluster)
    if not cluster.HasField("upstream_bind_config"):
        return False
    source = cluster.upstream_bind_config.source_address
    assert (source.address, source.port_value) == ("0.0.0.0", 0)
    return True


def test_a_service_off_the_hosts_loopback_is_reached_from_the_node_by_a_loopback_proxy() -> None:
    """A proxy sharing the host's network binds to its 127/8 pod address, which the kernel
    refuses for a destination off loopback (`source_bind`): a service (a MESH_INTERNAL entry
    here) whose endpoints are all off it lets the kernel choose, for such a proxy only; a proxy
    bound off loopback (an isolated mesh's ingress gateway on the pods' bridge) and a captured
    pod keep their own; with one endpoint on loopback, the pod's address stays."""
    off = ENTRIES.replace("127.9.9.9", "10.9.9.9")
    push = bookinfo_push(off)
    assert _binds_any(build(push), "vm.example", 8000)
    gateway = sidecar_for(push, "istio-ingressgateway-0")
    assert gateway.ip.startswith("127.") and _binds_any(generate(gateway, push), "vm.example", 8000)
    isolated = dataclasses.replace(gateway, ip="10.1.0.2")
    assert not _binds_any(generate(isolated, push), "vm.example", 8000)
    pod = dataclasses.replace(sidecar_for(push, "productpage-v1-0", (9080, 9080)), ip="10.1.0.9")
    captured = dataclasses.replace(pod, interception="REDIRECT")
    assert not _binds_any(generate(captured, push), "vm.example", 8000)
    both = bookinfo_push(off + VM_2.format(address="10.9.9.10"))
    assert _binds_any(build(both), "vm.example", 8000)
    mixed = bookinfo_push(off + VM_2.format(address="127.9.9.10"))
    assert not _binds_any(build(mixed), "vm.example", 8000)
    assert _binds_any(build(bookinfo_push(ENTRIES)), "api.example", 443)  # MESH_EXTERNAL
    assert not _binds_any(build(bookinfo_push(ENTRIES)), "vm.example", 8000)  # on loopback
    assert not _binds_any(build(push), "reviews.default.svc.cluster.local", 9080)
    # the shared block's own cluster is left as it was: one copy per push for such proxies
    assert (
        build(push).clusters["outbound|8000||vm.example"]
        is build(push).clusters["outbound|8000||vm.example"]
    )


def test_sidecar_scopes_clusters_and_policy() -> None:
    scoped = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress: [{hosts: ["./reviews.default.svc.cluster.local"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""
    full, narrow = build(bookinfo_push(ENTRIES)), build(bookinfo_push(ENTRIES + "---" + scoped))
    assert len(narrow.clusters) < len(full.clusters)
    assert "PassthroughCluster" in full.clusters and "PassthroughCluster" in narrow.clusters  # as
    # istiod; the Sidecar's REGISTRY_ONLY makes the catch-all answer 502 instead of passing
    assert "direct_response" in str(narrow.routes["http_proxy"].virtual_hosts[-1])
    assert "direct_response" not in str(full.routes["http_proxy"].virtual_hosts[-1])
    assert "outbound|8000||vm.example" not in narrow.clusters


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: MUTUAL, credentialName: cred, minProtocolVersion: TLSV1_2}
  - port: {number: 8443, name: tls, protocol: TLS}
    hosts: [b.example.com]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b.example.com]
  gateways: [gw]
  tls: [{match: [{port: 8443, sniHosts: [b.example.com]}], route: [{destination: {host: ratings}}]}]
"""


def test_gateway_tls_servers_and_sds_secrets() -> None:
    push = bookinfo_push(GATEWAY)
    secret = TlsSecret("cred", "istio-system", "CERT", "KEY", "CA")
    registry = dataclasses.replace(push.registry, secrets=(secret,), _by_host={})
    push = dataclasses.replace(push, registry=registry)
    resources = generate(sidecar_for(push, "istio-ingressgateway-0"), push)
    assert check_invariants(resources) == []
    assert sorted(resources.secrets) == ["kubernetes://cred", "kubernetes://cred-cacert"]
    listener = resources.listeners["0.0.0.0_8443"]
    assert isinstance(listener, listener_pb2.Listener)
    sni = [list(c.filter_chain_match.server_names) for c in listener.filter_chains]
    assert sni == [["a.example.com"], ["b.example.com"]]
    context = tls_pb2.DownstreamTlsContext()
    assert listener.filter_chains[0].transport_socket.typed_config.Unpack(context)
    assert context.require_client_certificate.value is True
    assert _tcp_proxy(listener, 1).cluster == "outbound|9080||ratings.default.svc.cluster.local"
    missing = dataclasses.replace(
        push, registry=dataclasses.replace(registry, secrets=(), _by_host={})
    )
    without = generate(sidecar_for(missing, "istio-ingressgateway-0"), missing)
    assert check_invariants(without) == [] and not without.secrets
    assert any("cred" in d.message for d in without.diagnostics)
