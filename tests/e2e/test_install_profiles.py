"""Istio's installation steps in local mode (issue 8, item 9): `pilotfish install --set
profile=demo -y`, then Bookinfo added with `pilotfish apply -f` serves the product page through
the ingress gateway, with the demo profile's egress gateway running and its mesh config (access
logs to /dev/stdout, 100% sampling) in place;
`install -f` an IstioOperator (profile minimal, meshConfig, an ingress gateway whose Service
forwards 80 to 8080 as Istio's does, an egress gateway with its ports);
`x precheck` before and `verify-install` after, as Istio's steps run them; `uninstall`;
`install --kubernetes` says it is not in this version; `kube-inject` labels pods for injection."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tests.e2e.meshctl import ROOT, LocalMesh, http

SLEEP = ROOT / "samples" / "sleep" / "sleep.yaml"

# Istio's httpbin Gateway on the ingress gateway's target port 8080 (as Bookinfo's), reached
# through the Service's port 80 as Istio's docs read INGRESS_PORT
HTTPBIN_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: httpbin-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: ["*"]
  gateways: [httpbin-gateway]
  http:
  - route:
    - destination: {host: httpbin, port: {number: 8000}}
"""

OPERATOR = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: minimal
  meshConfig:
    outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  components:
    ingressGateways:
    - name: istio-ingressgateway
      enabled: true
      k8s:
        service:
          ports:
          - {name: status-port, port: 15021, targetPort: 15021}
          - {name: http2, port: 80, targetPort: 8080}
          - {name: https, port: 443, targetPort: 8443}
    egressGateways:
    - name: istio-egressgateway
      enabled: true
      k8s:
        service:
          ports:
          - {name: http2, port: 80, targetPort: 8080}
          - {name: https, port: 443, targetPort: 8443}
  values:
    global:
      proxy: {logLevel: warning}
"""


def _answers(url: str, status: int) -> bool:
    return http(url).status == status


HTTPBIN_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - route:
    - destination:
        host: httpbin
        port:
          number: 8000
"""
"""Istio's samples/httpbin/httpbin-gateway.yaml."""


def _install(mesh: LocalMesh, *args: str) -> None:
    result = mesh.pilotfish("install", *args, "-y", "--ingress-address", mesh.ingress, timeout=180)
    if result.returncode != 0:
        mesh.dump_logs()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Installation complete" in result.stdout


def test_demo_profile_then_bookinfo_serves_the_product_page(tmp_path: Path) -> None:
    mesh = LocalMesh(tmp_path / "home", None)
    try:
        precheck = mesh.pilotfish("x", "precheck")  # Istio's install steps, in their order
        assert (precheck.returncode, precheck.stdout, precheck.stderr) == (
            0,
            "",
            "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
            "  To get started, check out https://istio.io/latest/docs/setup/getting-started/.\n",
        ), precheck  # istioctl's lines, on stderr
        _install(mesh, "--set", "profile=demo")
        verified = mesh.pilotfish("verify-install")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
            assert f"✔ Deployment: {name}.istio-system checked successfully" in verified.stdout
        assert verified.stdout.endswith("✔ Istio is installed and verified successfully\n")
        other = ["--set", "profile=demo", "--set", "components.egressGateways[0].name=other-egress"]
        unverified = mesh.pilotfish("verify-install", *other)
        assert unverified.returncode == 1, unverified.stdout
        assert "✘ Deployment: other-egress.istio-system: not found" in unverified.stdout
        pods = mesh.pilotfish("get", "pods", "-n", "istio-system").stdout
        rows = {line.split()[0]: line.split() for line in pods.splitlines()[1:]}
        for pod in ("istiod-0", "istio-ingressgateway-0", "istio-egressgateway-0"):
            assert rows[pod][1:3] == ["1/1", "Running"], pods  # a gateway is its Envoy only
        assert list(rows) == sorted(rows), pods  # kubectl's order
        # Istio's Getting Started, with Istio's files at Istio's paths
        mesh.apply("samples/bookinfo/platform/kube/bookinfo.yaml")
        mesh.apply("samples/bookinfo/networking/bookinfo-gateway.yaml")
        jsonpath = "jsonpath={.items[0].metadata.name}"
        ratings = mesh.pilotfish("get", "pod", "-l", "app=ratings", "-o", jsonpath).stdout
        inside = mesh.pilotfish(
            "exec", ratings, "-c", "ratings", "--", "curl", "-sS", "productpage:9080/productpage"
        )
        assert "<title>Simple Bookstore App</title>" in inside.stdout, inside.stderr
        mesh.wait_for(lambda: mesh.get("/productpage").status == 200, 30, "the product page")
        assert "Reviews served by" in mesh.get("/productpage").body
        # Istio's ingress Service: INGRESS_PORT is 80 (-> 8080), as the docs read it; then
        # Istio's httpbin Gateway on 80 joins Bookinfo's on 8080 (one listener, as Istio's)
        jsonpath = 'jsonpath={.spec.ports[?(@.name=="http2")].port}'
        port = mesh.pilotfish("get", "svc", "istio-ingressgateway", "-n", "istio-system",
                              "-o", jsonpath).stdout  # fmt: skip
        assert port == "80", port
        assert http(mesh.url("/productpage", 80)).status == 200
        mesh.apply("tests/data/istio-samples/httpbin.yaml")  # its namespace: default
        applied = mesh.pilotfish("apply", "-f", "-", stdin=HTTPBIN_GATEWAY)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        for number in (80, 8080):
            assert http(mesh.url("/headers", number)).status == 200, number
            assert http(mesh.url("/productpage", number)).status == 200, number
        # Istio's Ingress Access Control task keeps the client's address this way (local mode
        # keeps it anyway: no node hop)
        patch = '{"spec":{"externalTrafficPolicy":"Local"}}'
        patched = mesh.pilotfish("patch", "svc", "istio-ingressgateway", "-n", "istio-system",
                                 "-p", patch)  # fmt: skip
        assert patched.stdout == "service/istio-ingressgateway patched\n", patched
        policy = mesh.pilotfish("get", "svc", "istio-ingressgateway", "-n", "istio-system",
                                "-o", "jsonpath={.spec.externalTrafficPolicy}")  # fmt: skip
        assert policy.stdout == "Local", policy
        assert http(mesh.url("/productpage", 80)).status == 200
        mesh_config = mesh.pilotfish("get", "cm", "istio", "-n", "istio-system", "-o", "yaml")
        assert "accessLogFile: /dev/stdout" in mesh_config.stdout, mesh_config.stdout  # demo

        def access_logged() -> bool:  # the demo profile's access log, as Istio's docs read it
            log = mesh.pilotfish("logs", "productpage-v1-0", "-c", "istio-proxy").stdout
            return any('"GET /productpage HTTP/1.1" 200' in line for line in log.splitlines())

        mesh.wait_for(access_logged, 30, "productpage's sidecar to log the request")
        uninstalled = mesh.pilotfish("uninstall", "-y")
        assert uninstalled.returncode == 0, uninstalled.stderr
        assert mesh.processes() == []
    finally:
        mesh.down()


def test_istio_operator_file_minimal_with_an_egress_gateway(tmp_path: Path) -> None:
    mesh = LocalMesh(tmp_path / "home", None)
    config = tmp_path / "istio-config.yaml"
    config.write_text(OPERATOR)
    try:
        _install(mesh, "-f", str(config))
        pods = mesh.pilotfish("get", "pods", "-n", "istio-system").stdout
        assert "istio-egressgateway-0" in pods and "istio-ingressgateway-0" in pods, pods
        port = mesh.pilotfish(
            "get", "-n", "istio-system", "service", "istio-ingressgateway", "-o",
            'jsonpath={.spec.ports[?(@.name=="http2")].port}',
        ).stdout.strip()  # fmt: skip
        assert port == "80", port
        listed = mesh.pilotfish("get", "svc", "-n", "istio-system").stdout
        assert "15021:15021/TCP,80:80/TCP,443:443/TCP" in listed, listed  # node ports
        gateway = tmp_path / "httpbin-gateway.yaml"
        gateway.write_text(HTTPBIN_GATEWAY)
        mesh.apply("samples/httpbin/httpbin.yaml", str(gateway))
        for number in (80, 8080):  # the Service's port, and the gateway's own (target) port
            url = mesh.url("/status/418", port=number)
            mesh.wait_for(partial(_answers, url, 418), 30, f"httpbin on {url}")
        svc = mesh.pilotfish(
            "get", "svc", "istio-egressgateway", "-n", "istio-system", "-o", "json"
        )
        assert '"port": 443' in svc.stdout, svc.stdout
        mesh_config = mesh.pilotfish(
            "get", "configmap", "istio", "-n", "istio-system", "-o", "yaml"
        )
        assert "REGISTRY_ONLY" in mesh_config.stdout, mesh_config.stdout
    finally:
        mesh.down()


def test_install_kubernetes_says_not_yet(tmp_path: Path) -> None:
    result = LocalMesh(tmp_path / "home", None).pilotfish("install", "--kubernetes", "-y")
    assert result.returncode == 1 and "not yet in this version" in result.stderr, result.stderr
    assert "No such command" not in result.stderr


def test_kube_inject_labels_the_pods_for_apply_time_injection(tmp_path: Path) -> None:
    mesh = LocalMesh(tmp_path / "home", None)
    result = mesh.pilotfish("kube-inject", "-f", "-", stdin=SLEEP.read_text())
    assert result.returncode == 0, result.stderr
    assert 'sidecar.istio.io/inject: "true"' in result.stdout, result.stdout  # go-yaml's quotes
    # istioctl ends every document with `---` (IntoResourceFile), the last one too
    assert result.stdout.endswith("\n---\n"), result.stdout
    assert result.stdout.count("\n---\n") == SLEEP.read_text().count("\n---\n") + 1
    assert result.stderr.count("\n") == 1, result.stderr  # the one-line note, not in the manifest
    assert "injects sidecars when workloads are applied" in result.stderr, result.stderr


def test_bad_profile_is_refused(tmp_path: Path) -> None:
    result = LocalMesh(tmp_path / "home", None).pilotfish("install", "--set", "profile=huge", "-y")
    assert result.returncode == 1 and "unknown profile 'huge'" in result.stderr, result.stderr
