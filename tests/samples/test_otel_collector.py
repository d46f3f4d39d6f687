"""The OpenTelemetry Collector stand-in (samples/open-telemetry/collector.py) as a real process
on a loopback address of its own: the config its `--config` names (a file, or the mounted
ConfigMap's file handed over in PILOTFISH_FILES), OTLP logs, traces and metrics over gRPC and
OTLP/HTTP (sent with the official opentelemetry-proto messages), printed as the collector's
debug exporter prints them. Also the plan it makes of Istio-shaped configs, and what local mode
mounts (`registry.config_volumes`)."""

from __future__ import annotations

import importlib
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from tests.samples.sample_apps import SAMPLES, clean_env, random_loopback

from pilotfish.registry.config_volumes import FILES_ENV, mounted_files, mounts_sources
from pilotfish.registry.env_sources import EnvSources

sys.path.insert(0, str(SAMPLES / "open-telemetry"))  # the sample's modules, as it runs them
collector = importlib.import_module("collector")
debug_exporter = importlib.import_module("debug_exporter")

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "0.0.0.0:4317"}
      http: {endpoint: "${env:MY_POD_IP}:4318"}
  otlp/auth:
    protocols:
      grpc: {endpoint: "0.0.0.0:5317", auth: {authenticator: bearertokenauth}}
  opencensus: {}
exporters:
  debug: {verbosity: detailed}
  debug/counts: {}
  zipkin: {endpoint: "http://zipkin.istio-system.svc:9411/api/v2/spans"}
service:
  pipelines:
    logs: {receivers: [otlp], processors: [batch], exporters: [debug]}
    traces: {receivers: [otlp, opencensus], exporters: [zipkin, debug/counts]}
    traces/auth: {receivers: [otlp/auth], exporters: [debug]}
    metrics: {receivers: [otlp], exporters: [debug/counts]}
"""


def test_the_plan_of_an_istio_shaped_config() -> None:
    environ = {"HOST": "127.9.9.9", "MY_POD_IP": "127.9.9.9", "PORT_4317": "24317"}
    config = collector.read_config([], environ)  # no --config: the image's default
    assert sorted(collector.plan(config, environ).listeners) == [
        ("127.9.9.9", 4318, False), ("127.9.9.9", 24317, True),
    ]  # fmt: skip
    mounted = {FILES_ENV: json.dumps({"/conf/c.yaml": CONFIG}), **environ}
    found = collector.plan(collector.read_config(["/conf/c.yaml"], mounted), mounted)
    assert found.listeners == {
        ("127.9.9.9", 24317, True): {
            "logs": [("debug", "detailed")], "metrics": [("debug/counts", "basic")],
            "traces": [("debug/counts", "basic")],
        },
        ("127.9.9.9", 4318, False): {
            "logs": [("debug", "detailed")], "metrics": [("debug/counts", "basic")],
            "traces": [("debug/counts", "basic")],
        },
    }  # fmt: skip
    assert found.notes == [
        "pipeline traces: exporter zipkin is not run here",
        "pipeline traces: receiver opencensus is not run here",
        "receiver otlp/auth (grpc) needs an auth extension, which is not run here: not started",
    ]
    with pytest.raises(collector.ConfigError, match=r"'/conf/x\.yaml': no such file"):
        collector.read_config(["/conf/x.yaml"], environ)


def test_debug_text_of_values_times_and_severities() -> None:
    assert debug_exporter.timestamp(0) == "1970-01-01 00:00:00 +0000 UTC"
    assert debug_exporter.timestamp(1_581_452_773_000_000_789) == (
        "2020-02-11 20:26:13.000000789 +0000 UTC"
    )
    assert [debug_exporter.severity(n) for n in (0, 1, 2, 9, 12, 24, 25)] == [
        "Unspecified", "Trace", "Trace2", "Info", "Info4", "Fatal4", "Unspecified",
    ]  # fmt: skip


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    host = random_loopback()
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    process = subprocess.Popen(
        [sys.executable, "collector.py", f"--config={config}"],
        cwd=SAMPLES / "open-telemetry", env=clean_env({"HOST": host, "MY_POD_IP": host}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # until it is ready, or has exited (the pytest timeout)
            seen.append(line)
            if "Everything is ready" in line:
                break
        else:
            raise AssertionError(f"the collector did not start: {''.join(seen)}")
        yield host, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(10)


def _logs() -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    record = (
        request.resource_logs.add()
        .scope_logs.add()
        .log_records.add(time_unix_nano=1_581_452_773_000_000_789)
    )
    record.body.string_value = '[2020-02-11T20:26:13.000Z] "GET /status/418 HTTP/1.1" 418'
    record.attributes.add(key="pod").value.string_value = "curl-0"
    record.attributes.add(key="bytes").value.int_value = 135
    return request


def test_otlp_over_grpc_and_http_printed_as_the_debug_exporter(
    running: tuple[str, subprocess.Popen[str]],
) -> None:
    host, process = running
    with grpc.insecure_channel(f"{host}:4317") as channel:
        logs = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        answer = logs(_logs().SerializeToString(), timeout=5)
        logs_service_pb2.ExportLogsServiceResponse.FromString(answer)
        metrics = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        )
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        scope = request.resource_metrics.add().scope_metrics.add()
        scope.metrics.add(name="requests").sum.data_points.add(as_int=3)
        scope.metrics.add(name="latency").histogram.data_points.add(count=2)
        metrics(request.SerializeToString(), timeout=5)
        with pytest.raises(grpc.RpcError) as refused:
            logs(b"\xff\xff not protobuf", timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    spans = trace_service_pb2.ExportTraceServiceRequest()
    spans.resource_spans.add().scope_spans.add().spans.add(name="a", trace_id=b"\x01" * 16)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    post = urllib.request.Request(
        f"http://{host}:4318/v1/traces", data=spans.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )  # fmt: skip
    with opener.open(post, timeout=5) as response:
        assert response.status == 200
    assert not _port_open(host, 5317)  # the receiver needing an auth extension is not started
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert process.stdout is not None
    printed = process.stdout.read()
    fields = '"otelcol.component.kind": "Exporter", "otelcol.signal":'
    assert f'"otelcol.component.id": "debug", {fields} "logs", "resource logs": 1, ' \
           '"log records": 1}' in printed  # fmt: skip
    assert "\tinfo\tResourceLog #0\nResource SchemaURL: \nScopeLogs #0\n" in printed
    assert (
        "LogRecord #0\nObservedTimestamp: 1970-01-01 00:00:00 +0000 UTC\n"
        "Timestamp: 2020-02-11 20:26:13.000000789 +0000 UTC\nSeverityText: \n"
        "SeverityNumber: Unspecified(0)\n"
        'Body: Str([2020-02-11T20:26:13.000Z] "GET /status/418 HTTP/1.1" 418)\n'
        "Attributes:\n     -> pod: Str(curl-0)\n     -> bytes: Int(135)\n"
        "Trace ID: \nSpan ID: \nFlags: 0\n"
    ) in printed
    assert f'{fields} "metrics", "resource metrics": 1, "metrics": 2, "data points": 2}}' \
        in printed  # fmt: skip
    assert f'{fields} "traces", "resource spans": 1, "spans": 1}}' in printed
    assert "Span #0" not in printed  # the traces' exporter is `basic`


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def test_configmap_volumes_mount_as_the_kubelet_mounts_them() -> None:
    sources = EnvSources(config_maps={("obs", "conf"): {"a": "A", "b": "B"}})
    picked = {"name": "conf", "items": [{"key": "b", "path": "x/b.yaml"}]}
    spec = {"volumes": [{"name": "v", "configMap": {"name": "conf"}},
                        {"name": "picked", "configMap": picked},
                        {"name": "gone", "configMap": {"name": "absent"}},
                        {"name": "tmp", "emptyDir": {}}]}  # fmt: skip
    assert mounts_sources(spec) and not mounts_sources({"volumes": [{"emptyDir": {}}]})
    container = {"volumeMounts": [
        {"name": "v", "mountPath": "/all"}, {"name": "picked", "mountPath": "/conf"},
        {"name": "v", "mountPath": "/etc/one.txt", "subPath": "a"},
        {"name": "gone", "mountPath": "/gone"}, {"name": "tmp", "mountPath": "/tmp"},
    ]}  # fmt: skip
    assert mounted_files(spec, container, "obs", sources) == {
        "/all/a": "A", "/all/b": "B", "/conf/x/b.yaml": "B", "/etc/one.txt": "A",
    }  # fmt: skip
    assert mounted_files(spec, container, "other", sources) == {}
