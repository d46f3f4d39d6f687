"""Istio's "OpenTelemetry" access log task (Tasks > Observability > Logs > OpenTelemetry), typed
as its page types it (Istio fidelity): `kubectl` and `istioctl` are `pilotfish`, curl and httpbin
are Istio's own manifests, and the collector is samples/open-telemetry/otel.yaml (shaped as
Istio's: its image runs pilotfish's OpenTelemetry Collector stand-in, a real process taking
OTLP over gRPC, which reads the config the Deployment mounts from its ConfigMap).

The page's steps in order: the mesh config's `envoyOtelAls` provider `otel` (`istioctl install
-f`), the `observability` namespace and the collector, the Telemetry `curl-logging` selecting
`app: curl`, `kubectl exec "$SOURCE_POD" -c curl -- curl -sS -v httpbin:8000/status/418`, and
`kubectl logs -l app=opentelemetry-collector -n observability`, where the curl sidecar's record
shows the request (Istio's test greps `outbound|8000||httpbin.default.svc.cluster.local`). Then
what a user relies on: a Telemetry naming another provider sends the collector nothing, and a
`filter.expression` lets through only what it matches (Envoy's own flush order: a record sent
later arriving shows an earlier one was not sent).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh
from tests.e2e.pagekit import add_shims, sh, sh_ok
from tests.e2e.telemetrykit import poll

IOP = """
cat <<EOF > ./otel.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: otel
      envoyOtelAls:
        service: opentelemetry-collector.observability.svc.cluster.local
        port: 4317
EOF
"""
INSTALL = "istioctl install -f ./otel.yaml --skip-confirmation --ingress-address {address}\n"
COLLECTOR = """
kubectl create namespace observability
kubectl apply -f samples/open-telemetry/otel.yaml -n observability
"""
TELEMETRY = """
cat <<EOF | kubectl apply -n default -f -
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: curl-logging
spec:
  selector:
    matchLabels:
      app: curl
  accessLogging:
    - providers:
      - name: PROVIDER
FILTER
EOF
"""
SOURCE_POD = (
    "export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath={.items..metadata.name})\n"
)
CURL = 'kubectl exec "$SOURCE_POD" -c curl -- curl -sS -v httpbin:8000'
# the page's command, with every line: kubectl shows the last 10 lines of each pod with a
# selector, fewer than one record's debug output, and `_records(…) == []` needs the whole log
COLLECTOR_LOGS = "kubectl logs -l app=opentelemetry-collector -n observability --tail=-1"
ROLLOUT = "kubectl rollout status deployment/opentelemetry-collector -n observability"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    m = LocalMesh(tmp_path_factory.mktemp("home"), None)
    add_shims(m)
    typed_in = tmp_path_factory.mktemp("typed-in")
    try:
        installed = sh(m, IOP + INSTALL.format(address=m.ingress), cwd=typed_in)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        sh_ok(m, "kubectl apply -f tests/data/istio-samples/curl.yaml")
        sh_ok(m, "kubectl apply -f tests/data/istio-samples/httpbin.yaml")
        yield m
    finally:
        m.pilotfish("uninstall", "-y")
        m.down()


def _telemetry(mesh: LocalMesh, provider: str, expression: str = "") -> None:
    rule = f"      filter:\n        expression: {expression}" if expression else ""
    applied = sh(mesh, TELEMETRY.replace("PROVIDER", provider).replace("FILTER\n", rule + "\n"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "warning" not in applied.stderr, applied.stderr


def _curl(mesh: LocalMesh, path: str) -> str:
    result = sh(mesh, f"{SOURCE_POD}{CURL}'{path}'")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


def _records(mesh: LocalMesh, marker: str) -> list[str]:
    """The Body of each log record the collector printed whose text holds `marker`."""
    printed = sh_ok(mesh, COLLECTOR_LOGS)
    return [line for line in printed.splitlines() if line.startswith("Body: ") and marker in line]


def _wait_for(mesh: LocalMesh, marker: str) -> list[str]:
    found: list[str] = []

    def arrived() -> bool:
        found[:] = _records(mesh, marker)
        return bool(found)

    poll(arrived, timeout=20, what=f"a record of {marker} at the collector")
    return found


def test_the_task_as_the_page_runs_it(mesh: LocalMesh) -> None:
    sh_ok(mesh, COLLECTOR)
    sh_ok(mesh, ROLLOUT)
    _telemetry(mesh, "otel")
    stderr = _curl(mesh, "/status/418")
    assert "< HTTP/1.1 418 Unknown" in stderr and "< server: envoy" in stderr, stderr
    (record,) = _wait_for(mesh, "/status/418")
    # the curl sidecar's record, in Istio's default text format, as the page shows it (the
    # format's closing newline is the body's, so the collector's `)` opens the next line)
    body = re.fullmatch(r'Body: Str\(\[\S+\] "GET /status/418 HTTP/1\.1" 418 (.*) default', record)
    assert body, record
    assert body.group(1).startswith("- via_upstream "), record
    assert " outbound|8000||httpbin.default.svc.cluster.local " in record
    printed = sh_ok(mesh, COLLECTOR_LOGS)
    # the debug exporter's detailed shape around it: the export's counts, the record's fields
    assert '"otelcol.signal": "logs", "resource logs": 1, "log records": 1}' in printed
    assert "LogRecord #0" in printed and "SeverityNumber: Unspecified(0)" in printed
    assert f"{record}\n)\n" in printed
    # httpbin has no Telemetry naming `otel`: its sidecar logs only to its own file
    assert _records(mesh, "inbound|8080||") == []


def test_a_telemetry_without_the_provider_sends_the_collector_nothing(mesh: LocalMesh) -> None:
    unseen, seen = f"/status/418?unseen={uuid.uuid4()}", f"/status/418?seen={uuid.uuid4()}"
    _telemetry(mesh, "envoy")
    _curl(mesh, unseen)
    file_log = "kubectl logs -l app=curl -c istio-proxy"
    poll(lambda: unseen in sh_ok(mesh, file_log), timeout=20, what="the file log's line")
    _telemetry(mesh, "otel")
    _curl(mesh, seen)
    _wait_for(mesh, seen)
    assert _records(mesh, unseen) == []


def test_a_filter_expression_is_honoured(mesh: LocalMesh) -> None:
    teapot, failure = f"/status/418?m={uuid.uuid4()}", f"/status/503?m={uuid.uuid4()}"
    _telemetry(mesh, "otel", '"response.code >= 500"')
    _curl(mesh, teapot)
    _curl(mesh, failure)
    (record,) = _wait_for(mesh, failure)
    assert '" 503 ' in record
    assert _records(mesh, teapot) == []


LOKI_IOP = """
cat <<EOF > ./otel.yaml
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: otel
      envoyOtelAls:
        service: opentelemetry-collector.observability.svc.cluster.local
        port: 4317
        logFormat:
          labels:
            pod: "%ENVIRONMENT(POD_NAME)%"
            namespace: "%ENVIRONMENT(POD_NAMESPACE)%"
            cluster: "%ENVIRONMENT(ISTIO_META_CLUSTER_ID)%"
            mesh: "%ENVIRONMENT(ISTIO_META_MESH_ID)%"
EOF
"""


def test_the_loki_variants_labels_are_the_records_attributes(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Istio's samples/open-telemetry/loki/iop.yaml labels the records with the sidecar's
    environment (the `istio-proxy` container's variables), installed over the running mesh;
    the body stays Istio's default text format."""
    installed = sh(mesh, LOKI_IOP + INSTALL.format(address=mesh.ingress), cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    sh_ok(mesh, ROLLOUT.replace("-n observability", "-n observability --timeout=60s"))
    _telemetry(mesh, "otel")
    marker = f"/status/418?labels={uuid.uuid4()}"
    pod = sh_ok(mesh, SOURCE_POD + 'echo "$SOURCE_POD"').strip()

    def labelled() -> bool:
        _curl(mesh, marker)
        return bool(_records(mesh, marker))

    poll(labelled, timeout=30, what="a labelled record")
    lines = sh_ok(mesh, COLLECTOR_LOGS).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Body: ") and marker in line)
    assert lines[at + 1 : at + 7] == [
        ")",
        "Attributes:",
        "     -> cluster: Str(Kubernetes)",
        "     -> mesh: Str(cluster.local)",
        "     -> namespace: Str(default)",
        f"     -> pod: Str({pod})",
    ], lines[at : at + 8]


def test_the_collector_config_is_the_mounted_one(mesh: LocalMesh, tmp_path: Path) -> None:
    """The ConfigMap the Deployment mounts decides: with the debug exporter at its `basic`
    verbosity the collector prints the export's counts and no record."""
    marker = f"/status/418?basic={uuid.uuid4()}"
    basic = tmp_path / "otel.yaml"
    otel = Path("samples/open-telemetry/otel.yaml").read_text()
    basic.write_text(otel.replace("verbosity: detailed", "verbosity: basic"))
    sh_ok(mesh, f"kubectl apply -f {basic} -n observability")
    sh_ok(mesh, ROLLOUT)
    _telemetry(mesh, "otel")
    before = sh_ok(mesh, COLLECTOR_LOGS).count('"log records": 1}')

    def counted() -> bool:
        _curl(mesh, marker)
        return sh_ok(mesh, COLLECTOR_LOGS).count('"log records": 1}') > before

    poll(counted, timeout=30, what="a counted export")
    assert _records(mesh, marker) == []
