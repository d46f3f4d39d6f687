"""Istio's "Kubernetes Services for Egress Traffic" task, with the page's YAML and commands.

Adapted only where local mode must differ (never the internet): `httpbin.org` is a local
server on port 80 of a random loopback address, and the ExternalName Service names that
address instead of `httpbin.org` (Kubernetes accepts an address there; nothing resolves
`httpbin.org` locally without DNS).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import httpbin_server
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, running_mesh

EXTERNAL_NAME = """\
kind: Service
apiVersion: v1
metadata:
  name: my-httpbin
spec:
  type: ExternalName
  externalName: {address}   # local mode: the page says httpbin.org
  ports:
  - name: http
    protocol: TCP
    port: 80
"""

DISABLE_TLS = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: my-httpbin
spec:
  host: my-httpbin.default.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
"""


@pytest.fixture(scope="module")
def httpbin() -> Iterator[str]:
    """`httpbin.org` on port 80 (the ExternalName Service's port) of its own loopback address."""
    with httpbin_server() as (address, _):
        yield address


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/sleep", mesh_config=CLUSTER_STATS_MESH) as m:
        yield m


def _apply(mesh: LocalMesh, text: str, tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    result = mesh.pilotfish("apply", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_external_name_service(mesh: LocalMesh, httpbin: str, tmp_path: Path) -> None:
    _apply(mesh, EXTERNAL_NAME.format(address=httpbin), tmp_path)
    listed = mesh.pilotfish("get", "svc", "my-httpbin").stdout.splitlines()
    assert listed[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert listed[1].split()[:5] == ["my-httpbin", "ExternalName", "<none>", httpbin, "80/TCP"]
    _apply(mesh, DISABLE_TLS, tmp_path)

    def headers() -> dict[str, str]:
        result = mesh.pilotfish(
            "exec", "sleep", "-c", "sleep", "--",
            "curl", "-sS", "my-httpbin.default.svc.cluster.local/headers",
        )  # fmt: skip
        if result.returncode != 0 or not result.stdout.startswith("{"):
            return {}
        found: dict[str, str] = json.loads(result.stdout)["headers"]
        return found

    cluster = "cluster.outbound|80||my-httpbin.default.svc.cluster.local;.upstream_rq_200"
    before = _sidecar_stat(mesh, cluster)
    mesh.wait_for(lambda: bool(headers()), 30, "my-httpbin through the sidecar")
    seen = headers()
    assert seen["Host"] == "my-httpbin.default.svc.cluster.local", seen
    assert seen["User-Agent"].startswith("curl/"), seen
    assert _sidecar_stat(mesh, cluster) >= before + 1  # the Service's own cluster carried it


def _sidecar_stat(mesh: LocalMesh, name: str) -> int:
    stats = mesh.pilotfish(
        "exec", "sleep", "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "stats"
    )
    assert stats.returncode == 0, stats.stderr
    found = re.search(rf"^{re.escape(name)}: (\d+)$", stats.stdout, re.M)
    return int(found.group(1)) if found else 0
