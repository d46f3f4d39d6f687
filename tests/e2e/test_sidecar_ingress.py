"""The Sidecar resource's `ingress`: the listeners a workload's sidecar opens for inbound
traffic, each sent to its `defaultEndpoint` (in local mode, a container port there means the port
the app really listens on). Checked with real requests to the workload's address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import apply_yaml
from tests.e2e.meshctl import LocalMesh, http, running_mesh

INGRESS = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: httpbin}
spec:
  workloadSelector:
    labels: {app: httpbin}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 9999, protocol: HTTP, name: http-alt}
    defaultEndpoint: 127.0.0.1:8080
"""


def status(url: str) -> int:
    """HTTP status, or 0 when nothing accepts the connection."""
    try:
        return http(url, timeout=2).status
    except OSError:
        return 0


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as started:
        yield started


def test_ingress_listeners_replace_the_derived_ones(mesh: LocalMesh, tmp_path: Path) -> None:
    ip = mesh.info["proxies"]["httpbin-v1-0.default"]["ip"]
    assert http(f"http://{ip}:8080/get").status == 200  # derived from the container port
    assert status(f"http://{ip}:9999/get") == 0  # nothing listens there yet
    apply_yaml(mesh, tmp_path, INGRESS)
    alt = http(f"http://{ip}:9999/headers")
    assert alt.status == 200 and '"Host"' in alt.body, alt.body
    assert http(f"http://{ip}:8080/get").status == 200
    result = mesh.pilotfish("delete", "sidecar", "httpbin")
    assert result.returncode == 0, result.stderr
    mesh.wait_for(lambda: status(f"http://{ip}:9999/get") == 0, what="9999 to close")
