"""Istio's "Mutual TLS Migration" and "Authentication Policy" tasks, with the results their docs
show: namespaces foo and bar run sleep and httpbin with sidecars, legacy runs httpbin without one
(`sidecar.istio.io/inject: "false"`); every client calls every httpbin on /ip.

A client in `legacy` has no sidecar: here it is this test process dialling the httpbin pod's
address (what kube-proxy would route `httpbin.<ns>:8000` to), so STRICT servers refuse it.
Workload names carry their namespace (httpbin-foo, ...) so that instance names stay unique.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh
from tests.e2e.mtlskit import http_direct, http_via_sidecar

NAMESPACES = ("foo", "bar", "legacy")
HTTPBIN = ROOT / "samples" / "httpbin" / "httpbin.py"
SLEEP = ROOT / "samples" / "sleep" / "sleep.py"


def _manifest() -> str:
    docs = []
    for ns in NAMESPACES:
        inject = "" if ns != "legacy" else ', annotations: {sidecar.istio.io/inject: "false"}'
        docs.append(f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: httpbin, namespace: {ns}}}
---
apiVersion: v1
kind: Service
metadata: {{name: httpbin, namespace: {ns}, labels: {{app: httpbin}}}}
spec:
  ports: [{{name: http, port: 8000, targetPort: 8080}}]
  selector: {{app: httpbin}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: httpbin-{ns}, namespace: {ns}, labels: {{app: httpbin}}{inject}}}
spec:
  serviceAccount: httpbin
  command: ["python", "{HTTPBIN}"]
  ports: [8080]
---
""")
        if ns != "legacy":
            docs.append(f"""apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: sleep-{ns}, namespace: {ns}, labels: {{app: sleep}}}}
spec:
  serviceAccount: sleep
  command: ["python", "{SLEEP}"]
---
""")
    return "".join(docs)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    folder = tmp_path_factory.mktemp("tasks")
    (folder / "mesh.yaml").write_text(_manifest())
    with running_mesh(tmp_path_factory, str(folder)) as running:
        yield running


def _call(mesh: LocalMesh, source: str, target: str) -> int:
    """HTTP status of `sleep.<source>` -> `httpbin.<target>:8000/ip`; 0 when the connection is
    refused or reset (curl prints 000)."""
    if source == "legacy":
        address = mesh.proxy(f"httpbin-{target}-0")["ip"]
        try:
            http_direct(f"http://{address}:8080/ip")
        except OSError:
            return 0
        return 200
    proxy = f"http://{mesh.proxy(f'sleep-{source}-0')['ip']}:15001"
    return http_via_sidecar(proxy, f"http://httpbin.{target}:8000/ip")[0]


def _matrix(mesh: LocalMesh) -> dict[str, int]:
    return {f"{s}->{t}": _call(mesh, s, t) for s in NAMESPACES for t in NAMESPACES}


def _all_ok(**failing: int) -> dict[str, int]:
    expected = {f"{s}->{t}": 200 for s in NAMESPACES for t in NAMESPACES}
    expected.update({k.replace("_to_", "->"): v for k, v in failing.items()})
    return expected


@contextlib.contextmanager
def applied(mesh: LocalMesh, folder: Path, yaml: str) -> Iterator[None]:
    path = folder / f"policy-{abs(hash(yaml))}.yaml"
    path.write_text(yaml)
    mesh.apply(str(path))
    try:
        yield
    finally:
        result = mesh.pilotfish("delete", "-f", str(path))
        assert result.returncode == 0, result.stderr


def _pa(name: str, namespace: str, spec: str) -> str:
    return f"""apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
---
"""


NS_STRICT = "  mtls: {mode: STRICT}"
HTTPBIN_SELECTOR = "  selector: {matchLabels: {app: httpbin}}\n"


def test_migration_namespace_then_mesh_wide_strict(mesh: LocalMesh, tmp_path: Path) -> None:
    assert _matrix(mesh) == _all_ok()  # PERMISSIVE everywhere: all 200
    with applied(mesh, tmp_path, _pa("default", "foo", NS_STRICT)):
        assert _matrix(mesh) == _all_ok(legacy_to_foo=0)
    with applied(mesh, tmp_path, _pa("default", "istio-system", NS_STRICT)):
        assert _matrix(mesh) == _all_ok(legacy_to_foo=0, legacy_to_bar=0)
    assert _matrix(mesh) == _all_ok()


def test_authentication_policy_workload_port_and_precedence(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    workload = _pa("httpbin", "bar", HTTPBIN_SELECTOR + "  mtls: {mode: STRICT}")
    with applied(mesh, tmp_path, workload):
        assert _matrix(mesh) == _all_ok(legacy_to_bar=0)
    port_level = _pa(
        "httpbin",
        "bar",
        HTTPBIN_SELECTOR + "  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}",
    )
    with applied(mesh, tmp_path, port_level):
        assert _matrix(mesh) == _all_ok()  # the workload port 8080 is plaintext again
    precedence = _pa("default", "foo", NS_STRICT) + _pa(
        "overwrite-example", "foo", HTTPBIN_SELECTOR + "  mtls: {mode: DISABLE}"
    )
    with applied(mesh, tmp_path, precedence):
        assert _matrix(mesh) == _all_ok()  # the workload policy wins over the namespace's
