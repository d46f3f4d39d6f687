"""Istio's wildcard egress hosts (its task "Egress using Wildcard Hosts") in local mode, where apps
reach HTTPS hosts with `CONNECT host:port` through their sidecar's HTTP proxy: a ServiceEntry
`*.wikipedia.org` with no resolution goes through the dynamic forward proxy (Envoy resolves the
CONNECT host), and a VirtualService `tls` route's `sniHosts` `*.wikipedia.org` route CONNECT for
every such name, as Istio's sidecar routes every SNI of that pattern on the port."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.translate import check_invariants, generate
from pilotfish.translate.clusters import DFP_CLUSTER_TYPE

WILDCARD = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wikipedia}
spec:
  hosts: ["*.wikipedia.org"]
  ports: [{number: 443, name: https, protocol: HTTPS}]
"""
SINGLE_SERVER = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: www-wikipedia}
spec:
  hosts: [www.wikipedia.org]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: egress}
spec:
  hosts: [egress.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: 127.9.9.8}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-wikipedia}
spec:
  hosts: ["*.wikipedia.org"]
  tls:
  - match: [{port: 443, sniHosts: ["*.wikipedia.org"]}]
    route: [{destination: {host: egress.example, port: {number: 443}}}]
"""


def _connect_routes(text: str) -> dict[str, str]:
    """CONNECT authority domain -> the cluster its route sends to, in the http_proxy routes."""
    push = bookinfo_push(text)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assert check_invariants(resources) == []
    config = resources.routes["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    found = {}
    for vhost in config.virtual_hosts:
        for route in vhost.routes:
            if route.match.HasField("connect_matcher"):
                for domain in vhost.domains:
                    found[domain] = route.route.cluster or "weighted"
    return found


def test_a_wildcard_service_entry_with_no_resolution_is_forward_proxied() -> None:
    push = bookinfo_push(WILDCARD)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    cluster = resources.clusters["outbound|443||*.wikipedia.org"]
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.cluster_type.name == DFP_CLUSTER_TYPE  # before: EDS with no endpoints (503)
    assert "outbound|443||*.wikipedia.org" not in resources.endpoints
    assert _connect_routes(WILDCARD)["*.wikipedia.org:443"] == "outbound|443||*.wikipedia.org"


def test_sni_hosts_of_a_tls_route_route_connect_for_every_name_they_cover() -> None:
    routes = _connect_routes(SINGLE_SERVER)
    # the VirtualService host covers www.wikipedia.org: its CONNECT follows the tls route
    assert routes["www.wikipedia.org:443"] == "outbound|443||egress.example"  # before: itself
    # and every other *.wikipedia.org name (before: no virtual host, 502 block_all)
    assert routes["*.wikipedia.org:443"] == "outbound|443||egress.example"
