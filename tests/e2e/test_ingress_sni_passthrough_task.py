"""Istio's "Ingress Gateway without TLS Termination" task, step by step with the page's commands
and YAML (Istio fidelity): the page's openssl certificates, `kubectl create secret tls
nginx-server-certs`, the page's nginx.conf and `my-nginx` Service, the Gateway `mygateway`
(port 443, protocol HTTPS, `tls: {mode: PASSTHROUGH}`) and the VirtualService `nginx` (`tls`
route matching `sniHosts: [nginx.example.com]` on port 443), then the page's `curl -v --resolve
"nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt`:
the certificate curl verifies is nginx's own (the gateway passes TLS through), and nginx answers
"Welcome to nginx!". Then the page's "Gateway API" tab: a Gateway `mygateway` with a TLS
Passthrough listener and a TLSRoute to `my-nginx`, reached at the address in the Gateway's status
(`kubectl wait --for=condition=programmed gtw mygateway`). `kubectl` is `pilotfish`.

Adapted for local mode, which mounts no volumes and pulls no image: the page's Deployment (image
`nginx`, the ConfigMap at /etc/nginx, the Secret at /etc/nginx-server-certs) is a `Workload`
that runs Debian's nginx binary with the page's nginx.conf, whose paths point at a folder
holding the Secret's two files (tls.crt, tls.key) and the logs, and whose `listen 443` is
127.0.0.1 and the app port the agent gives (as every local app; the sidecar's inbound listener
has the pod's own address and port 443). The page's check inside the pod (`kubectl exec … -c
istio-proxy -- curl --resolve nginx.example.com:443:127.0.0.1`) is not run: in local mode curl
reaches the network through the sidecar's HTTP proxy port, whose CONNECT names the host
(nginx.example.com, unknown to the mesh), not 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, pilotfish_ok

NGINX_CONF = """\
events {
}

http {
  log_format main '$remote_addr - $remote_user [$time_local]  $status '
  '"$request" $body_bytes_sent "$http_referer" '
  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log /var/log/nginx/access.log main;
  error_log  /var/log/nginx/error.log;

  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name nginx.example.com;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
  }
}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  labels:
    run: my-nginx
spec:
  ports:
  - port: 443
    protocol: TCP
  selector:
    run: my-nginx
"""
# local mode: the page's Deployment (image nginx, the ConfigMap and the Secret as volumes)
WORKLOAD = """\
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: my-nginx
  labels:
    run: my-nginx
spec:
  command: [sh, -c, 'sed "s/listen 443 ssl/listen 127.0.0.1:$PORT ssl/" nginx.conf.in >nginx.conf
    && exec nginx -p . -e error.log -c "$PWD/nginx.conf" -g "daemon off; pid nginx.pid;"']
  workingDir: {folder}
  ports: [443]
"""
GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: PASSTHROUGH
    hosts:
    - nginx.example.com
"""
VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: nginx
spec:
  hosts:
  - nginx.example.com
  gateways:
  - mygateway
  tls:
  - match:
    - port: 443
      sniHosts:
      - nginx.example.com
    route:
    - destination:
        host: my-nginx
        port:
          number: 443
"""
GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: mygateway
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "nginx.example.com"
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: All
"""
TLS_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: nginx
spec:
  parentRefs:
  - name: mygateway
  hostnames:
  - "nginx.example.com"
  rules:
  - backendRefs:
    - name: my-nginx
      port: 443
"""
OPENSSL = [
    "mkdir example_certs",
    "openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=exam"
    "ple.com' -keyout example_certs/example.com.key -out example_certs/example.com.crt",
    "openssl req -out example_certs/nginx.example.com.csr -newkey rsa:2048 -nodes -keyout examp"
    'le_certs/nginx.example.com.key -subj "/CN=nginx.example.com/O=some organization"',
    "openssl x509 -req -sha256 -days 365 -CA example_certs/example.com.crt -CAkey example_certs/"
    "example.com.key -set_serial 0 -in example_certs/nginx.example.com.csr -out example_certs/ng"
    "inx.example.com.crt",
]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None)
    try:
        installed = subprocess.run(
            [str(ROOT / ".venv/bin/pilotfish"), "install", "-y", "--ingress-address", mesh.ingress],
            env=mesh.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield mesh
    finally:
        mesh.pilotfish("uninstall", "-y")
        mesh.down()


def _ingress(mesh: LocalMesh) -> tuple[str, str]:
    """INGRESS_HOST and SECURE_INGRESS_PORT, as the page reads them from the Service."""
    jsonpath = "jsonpath={.status.loadBalancer.ingress[0].ip}"
    host = pilotfish_ok(mesh, "-n", "istio-system", "get", "service", "istio-ingressgateway",
                        "-o", jsonpath)  # fmt: skip
    jsonpath = 'jsonpath={.spec.ports[?(@.name=="https")].port}'
    port = pilotfish_ok(mesh, "-n", "istio-system", "get", "service", "istio-ingressgateway",
                        "-o", jsonpath)  # fmt: skip
    assert (host, port) == (mesh.ingress, "443")
    return host, port


def _curl(here: Path, host: str, port: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-v", "--resolve", f"nginx.example.com:{port}:{host}", "--cacert",
         "example_certs/example.com.crt", f"https://nginx.example.com:{port}", "--max-time", "10"],
        cwd=here, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _nginx_answered(answer: subprocess.CompletedProcess[str]) -> None:
    trace = answer.stderr
    # nginx's own certificate, checked against the page's CA: TLS was not terminated before it
    assert "subject: CN=nginx.example.com; O=some organization" in trace, trace
    assert "issuer: O=example Inc.; CN=example.com" in trace, trace
    assert "SSL certificate verify ok." in trace, trace
    assert "< HTTP/1.1 200 OK" in trace and "< Server: nginx/" in trace, trace
    assert "<title>Welcome to nginx!</title>" in answer.stdout, answer.stdout


def test_ingress_gateway_without_tls_termination(mesh: LocalMesh, tmp_path: Path) -> None:
    for command in OPENSSL:
        made = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True)
        assert made.returncode == 0, made
    certs = tmp_path / "example_certs"
    pilotfish_ok(
        mesh, "create", "secret", "tls", "nginx-server-certs",
        "--key", str(certs / "nginx.example.com.key"),
        "--cert", str(certs / "nginx.example.com.crt"),
    )  # fmt: skip
    # the volumes the page mounts: the Secret's two files and the ConfigMap's nginx.conf
    pod = tmp_path / "my-nginx"
    pod.mkdir()
    (pod / "tls.crt").write_bytes((certs / "nginx.example.com.crt").read_bytes())
    (pod / "tls.key").write_bytes((certs / "nginx.example.com.key").read_bytes())
    conf = NGINX_CONF.replace("/etc/nginx-server-certs", str(pod))
    (pod / "nginx.conf.in").write_text(conf.replace("/var/log/nginx", str(pod)))
    applied = pilotfish_ok(
        mesh, "apply", "-f", "-", stdin=SERVICE + "---\n" + WORKLOAD.format(folder=pod)
    )
    assert "rolled out: my-nginx.default" in applied, applied

    gateway = mesh.pilotfish("apply", "-f", "-", stdin=GATEWAY)
    # before: 'TLS mode PASSTHROUGH is not served on gateways', and no listener on 443
    assert gateway.returncode == 0 and "warning" not in gateway.stderr, gateway
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=VIRTUAL_SERVICE)
    ingress = _ingress(mesh)
    mesh.wait_for(lambda: _curl(tmp_path, *ingress).returncode == 0, 30, "nginx via the gateway")
    _nginx_answered(_curl(tmp_path, *ingress))
    logged = (pod / "access.log").read_text()
    assert '200 "GET / HTTP/1.1" 615 "-" "curl/' in logged, logged

    # the page's cleanup, then the gateway no longer serves nginx.example.com
    pilotfish_ok(mesh, "delete", "gateway", "mygateway")
    pilotfish_ok(mesh, "delete", "virtualservice", "nginx")
    mesh.wait_for(lambda: _curl(tmp_path, *ingress).returncode != 0, 30, "the route to go")

    # the page's "Gateway API" tab: a Gateway with a TLS Passthrough listener and a TLSRoute
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=GATEWAY_API)
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=TLS_ROUTE)
    pilotfish_ok(mesh, "wait", "--for=condition=programmed", "gtw", "mygateway")
    host = pilotfish_ok(mesh, "get", "gtw", "mygateway", "-o",
                        "jsonpath={.status.addresses[0].value}")  # fmt: skip
    port = pilotfish_ok(mesh, "get", "gtw", "mygateway", "-o",
                        'jsonpath={.spec.listeners[?(@.name=="https")].port}')  # fmt: skip
    assert port == "443", port
    mesh.wait_for(lambda: _curl(tmp_path, host, port).returncode == 0, 30, "nginx via mygateway")
    _nginx_answered(_curl(tmp_path, host, port))
    pilotfish_ok(mesh, "delete", "gtw", "mygateway")
    pilotfish_ok(mesh, "delete", "tlsroute", "nginx")
