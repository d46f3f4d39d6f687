"""Istio's task "Traffic Management > Ingress > Kubernetes Ingress", through real Envoys: the
task's IngressClass `istio` and Ingress for httpbin (host httpbin.example.com, path /status
Prefix) served on the mesh's ingress gateway (`/status/200` → 200, `/headers` → 404); an Ingress
of another class ignored; `get ingress` with kubectl's columns and the gateway's address; delete
removes the route. One mesh, tests in order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.e2e.l4kit import https_get
from tests.e2e.meshctl import LocalMesh, http
from tests.pki import Pki

TASK = """apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: istio
spec:
  controller: istio.io/ingress-controller
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ingress
spec:
  ingressClassName: istio
  rules:
  - host: httpbin.example.com
    http:
      paths:
      - path: /status
        pathType: Prefix
        backend:
          service:
            name: httpbin
            port:
              number: 8000
"""
OTHER = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: nginx-only
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  rules:
  - host: other.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: httpbin
            port:
              name: http
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), "samples/extras")
    result = mesh.up()
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        mesh.apply("samples/httpbin/httpbin.yaml")
        mesh.wait_for(
            lambda: "httpbin-v1-0.default" in mesh.info["proxies"], 30, "httpbin to start"
        )
        yield mesh
    finally:
        mesh.down()


def status(mesh: LocalMesh, host: str, path: str) -> int:
    return http(f"http://{mesh.ingress}:80{path}", headers={"host": host}).status


def refused(mesh: LocalMesh, path: str) -> bool:
    try:
        status(mesh, "httpbin.example.com", path)
    except ConnectionRefusedError:
        return True
    except OSError as err:  # urllib wraps it
        return isinstance(err.args[0] if err.args else None, ConnectionRefusedError)
    return False


def test_the_tasks_ingress_routes_status_and_not_headers(
    mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = tmp_path_factory.mktemp("task")
    (files / "ingress.yaml").write_text(TASK)
    applied = mesh.apply(str(files / "ingress.yaml")).stdout
    assert "ingressclass.networking.k8s.io/istio created" in applied, applied
    assert "ingress.networking.k8s.io/ingress created" in applied, applied
    mesh.wait_for(
        lambda: status(mesh, "httpbin.example.com", "/status/200") == 200, 20, "/status/200"
    )
    assert status(mesh, "httpbin.example.com", "/headers") == 404
    assert status(mesh, "httpbin.example.com", "/statusx") == 404  # whole path segments
    assert status(mesh, "other.example.com", "/status/200") == 404


def test_an_ingress_of_another_class_is_ignored(
    mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = tmp_path_factory.mktemp("other")
    (files / "other.yaml").write_text(OTHER)
    applied = mesh.apply(str(files / "other.yaml"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert status(mesh, "other.example.com", "/status/200") == 404
    assert status(mesh, "httpbin.example.com", "/status/200") == 200


def test_get_ingress_shows_kubectls_columns(mesh: LocalMesh) -> None:
    table = mesh.pilotfish("get", "ingress").stdout.splitlines()
    assert table[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], table
    rows = {r.split()[0]: r.split() for r in table[1:]}
    assert rows["ingress"][:5] == ["ingress", "istio", "httpbin.example.com", mesh.ingress, "80"]
    assert rows["nginx-only"][:4] == ["nginx-only", "<none>", "other.example.com", "80"]
    classes = [r.split() for r in mesh.pilotfish("get", "ingressclass").stdout.splitlines()]
    assert [c[:3] for c in classes] == [
        ["NAME", "CONTROLLER", "PARAMETERS"],
        ["istio", "istio.io/ingress-controller", "<none>"],
    ]
    address = mesh.pilotfish(
        "get", "ingress", "ingress", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"
    )
    assert address.stdout == mesh.ingress, address.stdout + address.stderr


def secure_yaml(pki: Pki) -> str:
    cert, key = pki.issue("secure", ["secure.example.com"])
    indent = "\n    "
    return f"""apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {{name: secure-credential, namespace: istio-system}}
stringData:
  tls.crt: |
    {indent.join(cert.read_text().splitlines())}
  tls.key: |
    {indent.join(key.read_text().splitlines())}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  annotations: {{kubernetes.io/ingress.class: istio}}
spec:
  tls:
  - hosts: [secure.example.com]
    secretName: secure-credential
  rules:
  - host: secure.example.com
    http:
      paths:
      - path: /status/*
        pathType: ImplementationSpecific
        backend: {{service: {{name: httpbin, port: {{name: http}}}}}}
"""


def test_tls_secret_serves_https_and_a_named_port_resolves(
    mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pki = Pki.create(tmp_path_factory.mktemp("pki"))
    files = tmp_path_factory.mktemp("secure")
    (files / "secure.yaml").write_text(secure_yaml(pki))
    applied = mesh.apply(str(files / "secure.yaml"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mesh.wait_for(
        lambda: (
            https_get(mesh.ingress, 443, "secure.example.com", "/status/200", pki.ca_path)[0] == 200
        ),
        20,
        "HTTPS through the Ingress's secret",
    )
    assert https_get(mesh.ingress, 443, "secure.example.com", "/headers", pki.ca_path)[0] == 404
    assert status(mesh, "secure.example.com", "/status/418") == 418  # plain HTTP on 80 too
    row = [r.split() for r in mesh.pilotfish("get", "ing", "secure").stdout.splitlines()]
    assert row[1][:5] == ["secure", "<none>", "secure.example.com", mesh.ingress, "80,"], row
    assert row[1][5] == "443", row


def test_a_bad_ingress_is_rejected_with_file_line_and_field(
    mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bad = tmp_path_factory.mktemp("bad") / "bad.yaml"
    bad.write_text(TASK.replace("pathType: Prefix", "pathType: Regex"))
    result = mesh.apply(str(bad), expect_ok=False)
    assert result.returncode != 0
    assert f"{bad}:19: Ingress default/ingress at spec.rules[0].http.paths[0].pathType" in (
        result.stderr
    ), result.stderr
    assert "nothing was applied" in result.stderr


def test_delete_removes_the_route(mesh: LocalMesh) -> None:
    deleted = mesh.pilotfish("delete", "ingress", "ingress")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert deleted.stdout.startswith('ingress.networking.k8s.io "ingress" deleted'), deleted.stdout
    # its Gateway and VirtualService go with it: 404 from the `secure` Ingress's server on 80
    mesh.wait_for(
        lambda: status(mesh, "httpbin.example.com", "/status/200") == 404, 20, "route removed"
    )
    assert status(mesh, "secure.example.com", "/status/200") == 200
    assert mesh.pilotfish("delete", "ingress", "secure").returncode == 0
    mesh.wait_for(lambda: refused(mesh, "/status/200"), 20, "port 80 to close")  # no Gateway
    assert "ingress" not in mesh.pilotfish("get", "ingress").stdout.split()
