"""ServiceEntry, WorkloadEntry and the outbound traffic policy through a real sidecar.

The client is the `sleep` workload's sidecar, used as an HTTP proxy exactly as the app uses it
(its outbound listener), plus its outbound TCP listener for a TCP ServiceEntry. The "external"
services are Python servers on random loopback addresses. One mesh, tests in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server, proxy_get, tcp_echo_server, tcp_exchange
from tests.e2e.meshctl import LocalMesh, running_mesh


@pytest.fixture(scope="module")
def sleep_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/sleep") as mesh:
        yield mesh


@pytest.fixture(scope="module")
def outside() -> Iterator[dict[str, tuple[str, int]]]:
    with (
        http_server("static") as static,
        http_server("dns", address="127.0.0.1") as dns,
        http_server("vm") as vm,
        http_server("unknown") as unknown,
        tcp_echo_server("external") as echo,
    ):
        yield {"static": static, "dns": dns, "vm": vm, "unknown": unknown, "echo": echo}


def _proxy(mesh: LocalMesh) -> tuple[str, int]:
    row = mesh.info["proxies"]["sleep-0.default"]
    return row["ip"], row["outbound_port"]


def _apply(mesh: LocalMesh, tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    mesh.apply(str(path))
    return path


def test_allow_any_passes_unknown_hosts(
    sleep_mesh: LocalMesh, outside: dict[str, tuple[str, int]]
) -> None:
    host, port = outside["unknown"]
    status, _, body = proxy_get(_proxy(sleep_mesh), f"http://{host}:{port}/x")
    assert (status, body.split()[0]) == (200, "unknown"), body
    assert " peer=" not in body, body  # the sidecar's identity stays inside the mesh


def test_service_entries_static_dns_and_workload_entry(
    sleep_mesh: LocalMesh, outside: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    (s_host, s_port), (_, d_port) = outside["static"], outside["dns"]
    (v_host, v_port), (e_host, e_port) = outside["vm"], outside["echo"]
    _apply(
        sleep_mesh,
        tmp_path,
        f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: external-static}}
spec:
  hosts: [external.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {s_host}, ports: {{http: {s_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: external-dns}}
spec:
  hosts: [dns.example]
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: localhost, ports: {{http: {d_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: vm-1}}
spec:
  address: {v_host}
  labels: {{app: vm}}
  ports: {{http: {v_port}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: vm}}
spec:
  hosts: [vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: vm}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: vm}}
spec:
  selector: {{app: vm}}
  ports: [{{name: http, port: 8000}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: external-tcp}}
spec:
  hosts: [tcp.example]
  resolution: STATIC
  ports: [{{number: 9400, name: tcp, protocol: TCP}}]
  endpoints: [{{address: {e_host}, ports: {{tcp: {e_port}}}}}]
""",
    )
    proxy = _proxy(sleep_mesh)
    for url, expected in [
        ("http://external.example/a", "static"),
        ("http://dns.example/b", "dns"),
        ("http://vm.example:8000/c", "vm"),
        ("http://vm:8000/d", "vm"),  # a Kubernetes Service selecting the WorkloadEntry
    ]:
        status, _, body = proxy_get(proxy, url)
        assert (status, body.split()[0]) == (200, expected), (url, status, body)
        # the identity header goes to hosts of the mesh only (MESH_INTERNAL), as Istio's
        assert (" peer=sleep;default;" in body) == (expected == "vm"), (url, body)
    assert tcp_exchange(proxy[0], 9400, "hi") == "external hi"


MESH_REGISTRY_ONLY = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
"""

SIDECAR_ALLOW_ANY = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  outboundTrafficPolicy: {mode: ALLOW_ANY}
"""


def test_registry_only_blocks_unknown_hosts_but_not_service_entries(
    sleep_mesh: LocalMesh, outside: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    _apply(sleep_mesh, tmp_path, MESH_REGISTRY_ONLY, "mesh.yaml")
    proxy = _proxy(sleep_mesh)
    host, port = outside["unknown"]
    status, _, _ = proxy_get(proxy, f"http://{host}:{port}/x")
    assert status == 502
    status, _, body = proxy_get(proxy, "http://external.example/ok")
    assert (status, body.split()[0]) == (200, "static"), body
    sidecar = _apply(sleep_mesh, tmp_path, SIDECAR_ALLOW_ANY, "sidecar.yaml")
    status, _, body = proxy_get(proxy, f"http://{host}:{port}/y")
    assert (status, body.split()[0]) == (200, "unknown"), body
    result = sleep_mesh.pilotfish("delete", "-f", str(sidecar))
    assert result.returncode == 0, result.stderr
    assert proxy_get(proxy, f"http://{host}:{port}/z")[0] == 502


def test_resolution_none_sends_to_the_address_asked_for(
    sleep_mesh: LocalMesh, outside: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    # Still REGISTRY_ONLY (previous test): only the registered host:port passes.
    _, port = outside["dns"]  # listens on 127.0.0.1
    proxy = _proxy(sleep_mesh)
    assert proxy_get(proxy, f"http://localhost:{port}/before")[0] == 502
    _apply(
        sleep_mesh,
        tmp_path,
        f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: local-none}}
spec:
  hosts: [localhost]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{{number: {port}, name: http, protocol: HTTP}}]
""",
        "none.yaml",
    )
    status, _, body = proxy_get(proxy, f"http://localhost:{port}/after")
    assert (status, body.split()[0]) == (200, "dns"), body
