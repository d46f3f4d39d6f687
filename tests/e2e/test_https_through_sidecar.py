"""`https://` from inside the mesh: clients send `CONNECT host:port` to their sidecar (the
HTTPS_PROXY the agent and `pilotfish exec` set), which tunnels TLS end to end — to a
ServiceEntry host by name, to an unknown host under ALLOW_ANY, and not at all under
REGISTRY_ONLY. Checked with curl, as a user would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.pki import Pki

SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure-api}}
spec:
  hosts: [secure.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  endpoints: [{{address: {host}, ports: {{tls: {port}}}}}]
"""

REGISTRY_ONLY = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/sleep") as started:
        yield started


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secure_server(pki: Pki) -> Iterator[tuple[str, int]]:
    with http_server("secure", tls=pki.issue("secure", ["secure.example"])) as server:
        yield server


def curl(mesh: LocalMesh, *args: str) -> tuple[int, str]:
    assert shutil.which("curl"), "curl is needed (installed by .ci/run)"
    result = mesh.pilotfish(
        "exec", "sleep", "--", "curl", "-sS", "--max-time", "10", "-w", "\\n%{http_code}", *args
    )
    body, _, code = result.stdout.rpartition("\n")
    return int(code or 0), body + result.stderr


def test_https_to_a_service_entry_host_by_name(
    mesh: LocalMesh, pki: Pki, secure_server: tuple[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "se.yaml"
    path.write_text(SERVICE_ENTRY.format(host=secure_server[0], port=secure_server[1]))
    mesh.apply(str(path))
    code, body = curl(mesh, "--cacert", str(pki.ca_path), "https://secure.example/hello")
    assert code == 200, body
    assert body.startswith("secure /hello host=secure.example"), body


def test_https_to_an_unknown_host_passes_under_allow_any(
    mesh: LocalMesh, secure_server: tuple[str, int]
) -> None:
    host, port = secure_server
    code, body = curl(mesh, "-k", f"https://{host}:{port}/any")
    assert code == 200 and body.startswith("secure /any"), body


def test_registry_only_refuses_connect_to_unknown_hosts(
    mesh: LocalMesh, pki: Pki, secure_server: tuple[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_text(REGISTRY_ONLY)
    mesh.apply(str(path))
    host, port = secure_server
    code, body = curl(mesh, "-k", f"https://{host}:{port}/any")
    assert code != 200 and "502" in body, body
    code, body = curl(mesh, "--cacert", str(pki.ca_path), "https://secure.example/still")
    assert code == 200, body
