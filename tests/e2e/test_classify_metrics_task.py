"""Istio's "Classifying Metrics Based on Request or Response" task as its page is today (Istio
fidelity): the page's `attribute_gen_service.yaml` (a WasmPlugin running the attributegen module
from its URL, and the Telemetry `custom-tags` whose `request_operation` tag reads
`filter_state['wasm.istio_operationId']`), applied with the page's `kubectl -n istio-system
apply -f`, on Bookinfo from Istio's own file, checked with the page's `kubectl exec … -c
istio-proxy -- curl -sS 'localhost:15000/stats/prometheus'` (`pilotfish exec`).

These Envoys fetch and run no Wasm module, so `apply` says, at the WasmPlugin's `spec.url` and
at the tag's line, that the plugin is not run and the tag stays empty, and how to classify here;
then the same classification (the page's three conditions, `.matches()` included) written as
the tag's CEL value labels reviews' requests `GetReview` through real Envoys: the page's effect
with stock Envoy, no Wasm.
"""

# ruff: noqa: E501  (the page's YAML as written)
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh
from tests.e2e.telemetrykit import poll

PAGE = """\
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: istio-attributegen-filter
spec:
  selector:
    matchLabels:
      app: reviews
  url: https://storage.googleapis.com/istio-build/proxy/attributegen-359dcd3a19f109c50e97517fe6b1e2676e870c4d.wasm
  imagePullPolicy: Always
  phase: AUTHN
  pluginConfig:
    attributes:
    - output_attribute: "istio_operationId"
      match:
        - value: "ListReviews"
          condition: "request.url_path == '/reviews' && request.method == 'GET'"
        - value: "GetReview"
          condition: "request.url_path.matches('^/reviews/[[:alnum:]]*$') && request.method == 'GET'"
        - value: "CreateReview"
          condition: "request.url_path == '/reviews/' && request.method == 'POST'"
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-tags
spec:
  metrics:
    - overrides:
        - match:
            metric: REQUEST_COUNT
            mode: CLIENT_AND_SERVER
          tagOverrides:
            request_operation:
              value: filter_state['wasm.istio_operationId']
      providers:
        - name: prometheus
"""
CEL = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-tags
spec:
  metrics:
    - overrides:
        - match:
            metric: REQUEST_COUNT
            mode: CLIENT_AND_SERVER
          tagOverrides:
            request_operation:
              value: >-
                request.url_path == '/reviews' && request.method == 'GET' ? 'ListReviews' :
                request.url_path.matches('^/reviews/[[:alnum:]]*$') && request.method == 'GET'
                ? 'GetReview' :
                request.url_path == '/reviews/' && request.method == 'POST' ? 'CreateReview' :
                'unknown'
      providers:
        - name: prometheus
"""
"""The page's classification as the tag's own CEL value (what `apply` suggests)."""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as mesh:
        mesh.apply(
            "samples/bookinfo/platform/kube/bookinfo.yaml",
            "samples/bookinfo/networking/bookinfo-gateway.yaml",
        )
        mesh.wait_for(lambda: mesh.get("/productpage").status == 200, 60, "productpage")
        yield mesh


def _operations(mesh: LocalMesh) -> set[str]:
    """The request_operation values of reviews' server-side istio_requests_total, after a
    page view (productpage calls GET /reviews/0), read as the page reads them."""
    assert mesh.get("/productpage").status == 200
    pods = pilotfish_ok(
        mesh, "get", "pod", "-l", "app=reviews", "-o", "jsonpath={.items[*].metadata.name}"
    ).split()
    found = set()
    for pod in pods:
        stats = pilotfish_ok(
            mesh, "exec", pod, "-c", "istio-proxy", "--",
            "curl", "-sS", "localhost:15000/stats/prometheus",
        )  # fmt: skip
        for line in stats.splitlines():
            if line.startswith("istio_requests_total{") and 'reporter="destination"' in line:
                _, label, rest = line.partition('request_operation="')
                found.add(rest.split('"', 1)[0] if label else "(no label)")
    return found


def test_the_pages_wasm_plugin_is_said_not_run_and_cel_classifies(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    path = tmp_path / "attribute_gen_service.yaml"
    path.write_text(PAGE)
    applied = mesh.pilotfish("-n", "istio-system", "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # before: only "extensions.istio.io/v1alpha1 WasmPlugin is valid but not enforced in local
    # mode; ignored" at line 1, and nothing about the Telemetry whose tag then stays empty
    said = applied.stderr
    assert (
        f"{path.name}:9: WasmPlugin istio-system/istio-attributegen-filter at spec.url: not "
        "applied: these Envoys fetch and run no Wasm module"
    ) in said, said
    assert (
        f"{path.name}:35: Telemetry istio-system/custom-tags at spec.metrics[0].overrides[0]"
        ".tagOverrides.request_operation.value: reads filter state 'wasm.istio_operationId'"
    ) in said, said
    assert "telemetry.telemetry.istio.io/custom-tags created" in applied.stdout, applied.stdout
    # what the warnings say: the label is there, empty, on every request
    poll(lambda: _operations(mesh) == {""}, 60, 'request_operation=""')

    cel = tmp_path / "custom-tags.yaml"
    cel.write_text(CEL)
    replaced = mesh.pilotfish("-n", "istio-system", "apply", "-f", str(cel))
    assert replaced.returncode == 0 and "warning" not in replaced.stderr, replaced
    poll(lambda: "GetReview" in _operations(mesh), 60, 'request_operation="GetReview"')
    assert _operations(mesh) <= {"GetReview", ""}  # "" : counted before the change
    pilotfish_ok(mesh, "-n", "istio-system", "delete", "telemetry", "custom-tags")
