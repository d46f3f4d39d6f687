"""Workload certificate rotation and Istio's three-step root change, under constant load, with
zero failed requests.

Workload certificates live 20 s here (mesh config `defaultConfig.proxyMetadata.SECRET_TTL`), so
agents rotate every ~10 s; a DestinationRule allows one request per upstream connection, so every
request is a new mTLS handshake with whatever certificates are current. The root change: (1) a
plug-in `cacerts` Secret that still signs with the old root but trusts old + new, (2) sign with
an intermediate of the new root, still trusting both, (3) trust only the new root. Each step waits
until every agent holds the new state.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh, service_yaml, workload_yaml
from tests.e2e.mtlskit import http_via_sidecar

from pilotfish.ca import certs

MESH = """apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      proxyMetadata: {SECRET_TTL: 20s}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}}
---
""" + (
    service_yaml("httpbin", 8000, 8080)
    + workload_yaml(
        "httpbin",
        ["python", str(ROOT / "samples" / "httpbin" / "httpbin.py")],
        [8080],
        service_account="httpbin",
    )
    + workload_yaml(
        "sleep",
        ["python", str(ROOT / "samples" / "sleep" / "sleep.py")],
        [],
        service_account="sleep",
    )
)
PODS = ("httpbin-0", "sleep-0")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("rotation")
    (folder / "mesh.yaml").write_text(MESH)
    with running_mesh(tmp_path_factory, str(folder)) as running:
        yield running


class Load:
    """Requests from sleep to httpbin, back to back, on two threads; counts every outcome."""

    def __init__(self, mesh: LocalMesh) -> None:
        self.proxy = f"http://{mesh.proxy('sleep-0')['ip']}:15001"
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []  # the first few, with when and what
        self.phase = "rotation"
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = http_via_sidecar(self.proxy, "http://httpbin:8000/ip", timeout=10)
            except OSError as exc:
                status, body = 0, f"error: {exc}"
            self.outcomes[str(status)] += 1
            if status != 200 and len(self.failures) < 5:
                self.failures.append(f"{time.strftime('%X')} {self.phase}: {status} {body[:200]}")

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def identity(mesh: LocalMesh, pod: str) -> dict[str, Any]:
    path = Path(mesh.proxy(pod)["run_dir"]) / "identity.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _secret(signer: str, key: str, roots: str, chain: str) -> str:
    def block(text: str) -> str:
        return "\n".join("    " + line for line in text.strip().splitlines())

    return f"""apiVersion: v1
kind: Secret
metadata: {{name: cacerts, namespace: istio-system}}
stringData:
  ca-cert.pem: |
{block(signer)}
  ca-key.pem: |
{block(key)}
  root-cert.pem: |
{block(roots)}
  cert-chain.pem: |
{block(chain)}
"""


def test_rotation_and_three_step_root_change_under_load(mesh: LocalMesh, tmp_path: Path) -> None:
    ca_dir = mesh.home / "ca"
    old_root, old_key = (ca_dir / "root-cert.pem").read_text(), (ca_dir / "ca-key.pem").read_text()
    now = datetime.datetime.now(datetime.UTC)
    new_root_key = certs.generate_key()
    # A root of its own name: Envoy picks issuers by name (the CA refuses look-alike roots).
    new_root = certs.self_signed_root(new_root_key, "new-root", now, certs.ROOT_LIFETIME)
    inter_key = certs.generate_key()
    inter = certs.intermediate(
        inter_key, new_root, new_root_key, "new-intermediate", now, datetime.timedelta(days=30)
    )
    both = old_root + certs.cert_pem(new_root)
    new_issuer = inter.subject.rfc4514_string()
    first = {pod: identity(mesh, pod)["serial"] for pod in PODS}

    def step(name: str, yaml: str, done: Any) -> None:
        load.phase = name
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml)
        mesh.apply(str(path))
        for pod in PODS:
            mesh.wait_for(lambda p=pod: done(identity(mesh, p)), timeout=45, what=f"{name}: {pod}")  # type: ignore[misc]

    with Load(mesh) as load:
        # plain rotation first: every agent gets a fresh certificate, nothing fails
        for pod in PODS:
            mesh.wait_for(
                lambda p=pod: (  # type: ignore[misc]
                    identity(mesh, p)["issued"] >= 2 and identity(mesh, p)["serial"] != first[p]
                ),
                timeout=45,
                what=f"{pod} to rotate",
            )
        step("1-trust-both", _secret(old_root, old_key, both, old_root), lambda i: i["roots"] == 2)
        step(
            "2-sign-with-new",
            _secret(certs.cert_pem(inter), certs.key_pem(inter_key), both, certs.cert_pem(inter)),
            lambda i: i["issuer"] == new_issuer and i["roots"] == 2,
        )
        step(
            "3-drop-old",
            _secret(
                certs.cert_pem(inter),
                certs.key_pem(inter_key),
                certs.cert_pem(new_root),
                certs.cert_pem(inter),
            ),
            lambda i: i["issuer"] == new_issuer and i["roots"] == 1,
        )
        time.sleep(2)  # a little traffic on the final state
    assert set(load.outcomes) == {"200"}, (load.outcomes, load.failures)
    assert load.outcomes["200"] > 50, load.outcomes
