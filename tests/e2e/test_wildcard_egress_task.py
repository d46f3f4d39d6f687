"""Istio's "Egress using Wildcard Hosts" task, step by step with the page's commands and YAML
(Istio fidelity): `istioctl install` with the page's `--set`s (demo profile, REGISTRY_ONLY),
`kubectl apply -f samples/sleep/sleep.yaml`, the ServiceEntry `*.wikipedia.org` (no
resolution: the address the client dialled), the page's
`curl -s https://en.wikipedia.org/wiki/Main_Page | grep -o "<title>.*</title>"` (and de's) in the
sleep pod printing each site's own title; then "Wildcard configuration for a single hosting
server": the egress gateway's Gateway for `*.wikipedia.org` (HTTPS, PASSTHROUGH), the
DestinationRule, the VirtualService routing by SNI from the sidecars to the gateway and from the
gateway to `www.wikipedia.org` (ServiceEntry `www-wikipedia`, resolution DNS), the same titles,
and the page's `pilot-agent request GET clusters` in the gateway counting its connections;
then the page's "Gateway API" tab (a TLSRoute whose parent is the ServiceEntry).

Adapted, with no byte off this machine: Wikipedia is one local HTTPS server (its certificate
from a test CA names en., de. and www.wikipedia.org; it answers by Host, as Wikipedia's servers
do), and its names resolve through a local DNS server (`dnskit`, the mesh started with
PILOTFISH_DNS_RESOLVERS) instead of the internet's; the sleep container trusts the test CA
(CURL_CA_BUNDLE), as a pod trusts Wikipedia's real one.
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator

import pytest
from tests.e2e.dnskit import dns_server
from tests.e2e.l4kit import random_loopback
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok
from tests.pki import Pki

TITLES = {
    "en.wikipedia.org": "<title>Wikipedia, the free encyclopedia</title>",
    "de.wikipedia.org": "<title>Wikipedia – Die freie Enzyklopädie</title>",
}
SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: wikipedia
spec:
  hosts:
  - "*.wikipedia.org"
  ports:
  - number: 443
    name: https
    protocol: HTTPS
"""
CURL = (
    'curl -s https://en.wikipedia.org/wiki/Main_Page | grep -o "<title>.*</title>"; '
    'curl -s https://de.wikipedia.org/wiki/Wikipedia:Hauptseite | grep -o "<title>.*</title>"'
)
EGRESS = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - "*.wikipedia.org"
    tls:
      mode: PASSTHROUGH
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: egressgateway-for-wikipedia
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
    - name: wikipedia
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: direct-wikipedia-through-egress-gateway
spec:
  hosts:
  - "*.wikipedia.org"
  gateways:
  - mesh
  - istio-egressgateway
  tls:
  - match:
    - gateways:
      - mesh
      port: 443
      sniHosts:
      - "*.wikipedia.org"
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: wikipedia
        port:
          number: 443
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
      sniHosts:
      - "*.wikipedia.org"
    route:
    - destination:
        host: www.wikipedia.org
        port:
          number: 443
      weight: 100
"""
WWW = """\
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: www-wikipedia
spec:
  hosts:
  - www.wikipedia.org
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""


GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: wikipedia-egress-gateway
  annotations:
    networking.istio.io/service-type: ClusterIP
spec:
  gatewayClassName: istio
  listeners:
  - name: tls
    hostname: "*.wikipedia.org"
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: direct-wikipedia-to-egress-gateway
spec:
  parentRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: wikipedia
  rules:
  - backendRefs:
    - name: wikipedia-egress-gateway-istio
      port: 443
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: forward-wikipedia-from-egress-gateway
spec:
  parentRefs:
  - name: wikipedia-egress-gateway
  hostnames:
  - "*.wikipedia.org"
  rules:
  - backendRefs:
    - kind: Hostname
      group: networking.istio.io
      name: www.wikipedia.org
      port: 443
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: wikipedia
spec:
  hosts:
  - "*.wikipedia.org"
  ports:
  - number: 443
    name: https
    protocol: HTTPS
"""


class _Wikipedia(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        title = TITLES.get(host, "<title>Wikipedia</title>")
        body = f"<html><head>{title}</head><body>{self.path}</body></html>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def wikipedia(pki: Pki) -> Iterator[str]:
    """Wikipedia's servers: one HTTPS server on port 443 of a loopback address, for every
    *.wikipedia.org name; yields its address."""
    cert, key = pki.issue("wikipedia", ["www.wikipedia.org", *TITLES])
    server = http.server.ThreadingHTTPServer((random_loopback(), 443), _Wikipedia)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(server.server_address[0])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    pki = Pki.create(tmp_path_factory.mktemp("pki"), "wikipedia test CA")
    with wikipedia(pki) as address, dns_server({"*.wikipedia.org": address}) as dns:
        mesh = LocalMesh(tmp_path_factory.mktemp("home"), None)
        mesh.env.update(PILOTFISH_DNS_RESOLVERS=dns, CURL_CA_BUNDLE=str(pki.ca_path))
        try:
            installed = subprocess.run(
                [str(ROOT / ".venv/bin/pilotfish"), "install",
                 "--set", "values.pilot.env.PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING=true",
                 "--set", "profile=demo",
                 "--set", "meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY", "-y",
                 "--ingress-address", mesh.ingress],
                env=mesh.env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert installed.returncode == 0, installed.stdout + installed.stderr
            applied = pilotfish_ok(mesh, "apply", "-f", "samples/sleep/sleep.yaml")
            assert "rolled out: sleep.default" in applied, applied
            yield mesh
        finally:
            mesh.pilotfish("uninstall", "-y")
            mesh.down()


def _titles(mesh: LocalMesh) -> list[str]:
    pod = pilotfish_ok(
        mesh, "get", "pod", "-l", "app=sleep", "-o", "jsonpath={.items..metadata.name}"
    )
    done = mesh.pilotfish("exec", pod.strip(), "-c", "sleep", "--", "sh", "-c", CURL)
    return done.stdout.splitlines()


def test_direct_traffic_to_a_wildcard_host(mesh: LocalMesh) -> None:
    assert _titles(mesh) == []  # REGISTRY_ONLY: no route to wikipedia.org yet
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=SERVICE_ENTRY)
    try:
        expected = list(TITLES.values())
        mesh.wait_for(lambda: _titles(mesh) == expected, 30, "both titles through the sidecar")

        def logged() -> bool:  # Envoy writes its access log file out once a second
            log = pilotfish_ok(mesh, "logs", "deploy/sleep", "-c", "istio-proxy")
            return "outbound|443||*.wikipedia.org" in log

        mesh.wait_for(logged, 10, "the CONNECTs to the ServiceEntry's cluster in the log")
    finally:  # the next tests start from REGISTRY_ONLY without it
        pilotfish_ok(mesh, "delete", "serviceentry", "wikipedia")


def test_wildcard_configuration_for_a_single_hosting_server(mesh: LocalMesh) -> None:
    mesh.wait_for(lambda: _titles(mesh) == [], 30, "the ServiceEntry's deletion")
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=EGRESS)
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=WWW)
    expected = list(TITLES.values())
    mesh.wait_for(lambda: _titles(mesh) == expected, 30, "both titles through the egress gateway")
    gateway = pilotfish_ok(
        mesh, "get", "pod", "-l", "istio=egressgateway", "-n", "istio-system",
        "-o", "jsonpath={.items[0].metadata.name}",
    )  # fmt: skip
    _gateway_counted(mesh, gateway, "-n", "istio-system")


def _gateway_counted(mesh: LocalMesh, gateway: str, *namespace: str) -> None:
    """The page's `pilot-agent request GET clusters | grep '^outbound|443||www.wikipedia.org.*
    cx_total:'` in the gateway: its connections to the single hosting server."""
    clusters = pilotfish_ok(
        mesh, "exec", gateway, "-c", "istio-proxy", *namespace, "--",
        "pilot-agent", "request", "GET", "clusters",
    )  # fmt: skip
    counted = [
        line
        for line in clusters.splitlines()
        if line.startswith("outbound|443||www.wikipedia.org") and "cx_total:" in line
    ]
    # the page's `outbound|443||www.wikipedia.org::208.80.154.224:443::cx_total::2`
    assert len(counted) == 1 and int(counted[0].rsplit("::", 1)[1]) >= 2, counted


def test_the_gateway_api_tab(mesh: LocalMesh) -> None:
    """The page's cleanup of the section before, then its "Gateway API" tab: a Gateway with a
    TLS Passthrough listener for `*.wikipedia.org`, a TLSRoute whose parent is the ServiceEntry
    `wikipedia` (to the Gateway's Service) and one from the Gateway to the Hostname
    `www.wikipedia.org`; the same titles, counted at that Gateway's own pod."""
    for kind, name in (
        ("serviceentry", "www-wikipedia"), ("gateway", "istio-egressgateway"),
        ("virtualservice", "direct-wikipedia-through-egress-gateway"),
        ("destinationrule", "egressgateway-for-wikipedia"),
    ):  # fmt: skip
        pilotfish_ok(mesh, "delete", kind, name)
    mesh.wait_for(lambda: _titles(mesh) == [], 30, "the section before to be gone")
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=GATEWAY_API)
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=WWW)
    expected = list(TITLES.values())
    mesh.wait_for(lambda: _titles(mesh) == expected, 30, "both titles through the Gateway")
    gateway = pilotfish_ok(
        mesh, "get", "pod", "-l", "gateway.networking.k8s.io/gateway-name=wikipedia-egress-gateway",
        "-o", "jsonpath={.items[0].metadata.name}",
    )  # fmt: skip
    _gateway_counted(mesh, gateway)
