"""Helpers for HTTP traffic-management e2e tests: clients that send through a workload's sidecar
(as the app would, with the sidecar as its HTTP proxy), Envoy admin stats, the sample apps' own
request counters, and applying Istio YAML given as text.

The traffic mesh is `samples/httpbin/traffic` (httpbin v1 x3 + v2, flaky good x2 + bad, sleep in
`default` and `other`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, Response, running_mesh

TRAFFIC_MESH = "samples/httpbin/traffic"
HTTPBIN = "httpbin.default.svc.cluster.local"
FLAKY = "flaky.default.svc.cluster.local"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


@dataclass
class Timed:
    response: Response
    seconds: float


class SidecarClient:
    """Sends requests the way an app in `instance` does: through its sidecar's HTTP proxy port.
    Redirects are not followed (the test looks at them)."""

    def __init__(self, mesh: LocalMesh, instance: str) -> None:
        proxy = mesh.proxy(instance)
        self.mesh, self.instance = mesh, instance
        self.proxy_url = f"http://{proxy['ip']}:{proxy['outbound_port']}"
        self.admin = f"http://{proxy['ip']}:15000"
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": self.proxy_url}), _NoRedirect
        )

    def request(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout: float = 15,
    ) -> Response:
        request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with self._opener.open(request, timeout=timeout) as resp:
                body = resp.read().decode(errors="replace")
                return Response(resp.status, body, {k.lower(): v for k, v in resp.headers.items()})
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            return Response(err.code, body, {k.lower(): v for k, v in err.headers.items()})

    def timed(self, url: str, **kw: Any) -> Timed:
        start = time.monotonic()
        response = self.request(url, **kw)
        return Timed(response, time.monotonic() - start)

    def served_by(
        self, url: str, n: int, workers: int = 1, headers: dict[str, str] | None = None
    ) -> Counter[str]:
        def one(_: int) -> str:
            resp = self.request(url, headers=headers)
            return resp.headers.get("x-served-by", f"status {resp.status}")

        with ThreadPoolExecutor(workers) as pool:
            return Counter(pool.map(one, range(n)))

    def stats(self, contains: str = "") -> dict[str, int]:
        """Envoy's counters and gauges (admin `/stats`), optionally only names with `contains`."""
        query = f"?filter={urllib.parse.quote(re.escape(contains))}" if contains else ""
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"{self.admin}/stats{query}", timeout=10
        ) as resp:
            text = resp.read().decode()
        found: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                found[name] = int(value)
        return found

    def stat(self, name: str) -> int:
        return self.stats(name).get(name, 0)


def app_requests(mesh: LocalMesh, instance: str, reset: bool = False) -> dict[str, Any]:
    """An httpbin instance's own request counters, read from the app directly (not the mesh)."""
    port = mesh.proxy(instance)["app_ports"]["8080"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/stats/requests", method="DELETE" if reset else "GET"
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        request, timeout=10
    ) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def apply_yaml(mesh: LocalMesh, tmp_path: Path, text: str, name: str = "rules.yaml") -> None:
    """Apply Istio config given as YAML text; returns once every affected proxy has ACKed."""
    path = tmp_path / name
    path.write_text(text)
    mesh.apply(str(path))


def delete_yaml(mesh: LocalMesh, tmp_path: Path, text: str, name: str = "delete.yaml") -> None:
    path = tmp_path / name
    path.write_text(text)
    result = mesh.pilotfish("delete", "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


HTTPBIN_SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""
URL = "http://httpbin:8000"


def virtual_service(http: str) -> str:
    """A VirtualService for httpbin with the given `http:` list (YAML, indented by 2)."""
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: httpbin}\nspec:\n  hosts: [httpbin]\n  http:\n" + http
    )


@contextlib.contextmanager
def traffic_mesh_with_subsets(factory: Any) -> Iterator[LocalMesh]:
    """The traffic sample mesh with httpbin's v1/v2 subsets defined (module fixtures), its
    proxies keeping their outbound clusters' stats (the tests count retries and ejections)."""
    with running_mesh(factory, TRAFFIC_MESH, mesh_config=CLUSTER_STATS_MESH) as started:
        apply_yaml(started, factory.mktemp("dr"), HTTPBIN_SUBSETS)
        yield started
