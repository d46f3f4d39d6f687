"""`sidecar.istio.io/bootstrapOverride`, shaped as Istio's samples/custom-bootstrap: a
ConfigMap holding `custom_bootstrap.json` (a top-level key written without braces: YAML, as
pilot-agent reads it) and a helloworld Deployment annotated with its name. The override's
runtime layer is in the sidecar's bootstrap (config_dump) and its Envoy's runtime, and traffic
still flows in and out through that sidecar. A ConfigMap that is missing keeps the pod from
starting, said as the kubelet says it (`get pods`, `get events`), until it is created; a file no
sidecar could read is said by `apply`. With them, Istio's other pod annotations: the log level
ones and ProxyConfig `concurrency` reach the sidecar's Envoy, one with no effect here is warned
about by `apply`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  custom_bootstrap.json: |
    "tracing": {{
      "http": {{
        "name": "envoy.tracers.zipkin",
        "typed_config": {{
          "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
          "collector_cluster": "zipkin",
          "collector_endpoint": "/api/v2/spans/{marker}",
          "collector_endpoint_version": "HTTP_JSON"
        }}
      }}
    }}
    "layered_runtime": {{
      "layers": [{{
        "name": "custom_bootstrap_layer",
        "static_layer": {{"custom_bootstrap.marker": "{marker}"}}
      }}]
    }}
"""

DEPLOYMENT = """apiVersion: v1
kind: Service
metadata: {{name: {app}, labels: {{app: {app}}}}}
spec:
  ports: [{{port: 5000, name: http}}]
  selector: {{app: {app}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}-v1, labels: {{app: {app}, version: v1}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {app}, version: v1}}}}
  template:
    metadata:
      annotations:
        sidecar.istio.io/bootstrapOverride: "{config_map}"
      labels: {{app: {app}, version: v1}}
    spec:
      containers:
      - name: helloworld
        image: registry.istio.io/release/examples-helloworld-v1
        ports: [{{containerPort: 5000}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as m:
        for sample in ("sleep", "httpbin"):
            pilotfish_ok(m, "apply", "-f", f"tests/data/istio-samples/{sample}.yaml")
        yield m


def _ready(mesh: LocalMesh, pod: str) -> str:
    listed = pilotfish_ok(mesh, "get", "pods").splitlines()
    return next((line.split()[1] for line in listed if line.startswith(pod)), "")


def _hello(mesh: LocalMesh, app: str) -> str:
    return pilotfish_ok(
        mesh, "exec", "deploy/sleep", "--", "curl", "-sS", "--max-time", "10",
        f"http://{app}:5000/hello",
    )  # fmt: skip


def _layers(mesh: LocalMesh, pod: str) -> list[dict[str, Any]]:
    dump = json.loads(pilotfish_ok(mesh, "proxy-config", "bootstrap", pod, "-o", "json"))
    layers: list[dict[str, Any]] = dump["bootstrap"]["layeredRuntime"]["layers"]
    return layers


def test_the_override_reaches_the_sidecar_and_traffic_flows(mesh: LocalMesh) -> None:
    config = mesh.pilotfish("apply", "-f", "-", stdin=CONFIG_MAP.format(name="custom", marker="on"))
    assert config.returncode == 0 and "warning" not in config.stderr, config.stderr
    app = DEPLOYMENT.format(app="hello", config_map="custom")
    applied = mesh.pilotfish("apply", "-f", "-", stdin=app)
    assert applied.returncode == 0 and "warning" not in applied.stderr, applied.stderr
    mesh.wait_for(lambda: _ready(mesh, "hello-v1-0") == "2/2", what="the annotated pod")
    layers = _layers(mesh, "hello-v1-0")
    custom = [layer for layer in layers if layer.get("name") == "custom_bootstrap_layer"]
    assert custom == [
        {"name": "custom_bootstrap_layer", "staticLayer": {"custom_bootstrap.marker": "on"}}
    ], layers
    assert len(layers) > 1  # merged into the generated bootstrap: its own layers are kept
    # the tracer of Istio's sample, naming Istio's `zipkin` bootstrap cluster, which it has
    bootstrap = json.loads(pilotfish_ok(mesh, "proxy-config", "bootstrap", "hello-v1-0",
                                        "-o", "json"))["bootstrap"]  # fmt: skip
    tracer = bootstrap["tracing"]["http"]["typedConfig"]
    assert (tracer["collectorCluster"], tracer["collectorEndpoint"]) == (
        "zipkin", "/api/v2/spans/on"
    )  # fmt: skip
    assert "zipkin" in [c["name"] for c in bootstrap["staticResources"]["clusters"]]
    runtime = pilotfish_ok(
        mesh, "exec", "hello-v1-0", "-c", "istio-proxy", "--", "curl", "-s",
        "localhost:15000/runtime",
    )  # fmt: skip
    assert json.loads(runtime)["entries"]["custom_bootstrap.marker"]["final_value"] == "on"
    assert "Hello version: v1" in _hello(mesh, "hello")  # inbound, through that sidecar
    code = pilotfish_ok(
        mesh, "exec", "hello-v1-0", "--", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
        "--max-time", "10", "http://httpbin:8000/ip",
    )  # fmt: skip
    assert code == "200"  # outbound, through that sidecar
    # a sidecar without the annotation has no such layer
    assert not [x for x in _layers(mesh, "sleep") if x.get("name") == "custom_bootstrap_layer"]


def test_a_missing_configmap_keeps_the_pod_from_starting_until_it_exists(mesh: LocalMesh) -> None:
    app = DEPLOYMENT.format(app="late", config_map="late-bootstrap")
    applied = mesh.pilotfish("apply", "-f", "-", stdin=app)
    assert applied.returncode == 0, applied.stderr
    said = 'MountVolume.SetUp failed for volume "custom-bootstrap-volume" : configmap ' \
        '"late-bootstrap" not found'  # fmt: skip
    mesh.wait_for(lambda: said in pilotfish_ok(mesh, "get", "events"), what="the kubelet's event")
    assert _ready(mesh, "late-v1-0") == "0/2"  # neither the app nor its sidecar runs
    pod = json.loads(pilotfish_ok(mesh, "get", "pod", "late-v1-0", "-o", "json"))
    waiting = [s["state"].get("waiting", {}) for s in pod["status"]["containerStatuses"]]
    assert said in [w.get("message") for w in waiting], waiting
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=CONFIG_MAP.format(name="late-bootstrap",
                                                                  marker="late"))  # fmt: skip
    mesh.wait_for(lambda: _ready(mesh, "late-v1-0") == "2/2", 60, "the pod, once it exists")
    assert {"custom_bootstrap.marker": "late"} in [x.get("staticLayer") for x in _layers(
        mesh, "late-v1-0")]  # fmt: skip
    assert "Hello version: v1" in _hello(mesh, "late")


def test_a_file_no_sidecar_can_read_is_said_at_apply(mesh: LocalMesh) -> None:
    bad = CONFIG_MAP.format(name="broken", marker="x").replace('"layers": [{', '"layers": [{{')
    applied = mesh.pilotfish("apply", "-f", "-", stdin=bad)
    assert applied.returncode == 0, applied.stderr
    assert "ConfigMap broken at data[custom_bootstrap.json]: not YAML or JSON (line " in (
        applied.stderr
    ), applied.stderr


def test_log_levels_reach_envoy_and_an_annotation_without_effect_is_warned(
    mesh: LocalMesh,
) -> None:
    app = DEPLOYMENT.format(app="loud", config_map="custom").replace(
        '        sidecar.istio.io/bootstrapOverride: "custom"\n',
        "        sidecar.istio.io/logLevel: debug\n"
        "        sidecar.istio.io/componentLogLevel: 'misc:error'\n"
        "        sidecar.istio.io/proxyCPULimit: 500m\n"
        "        proxy.istio.io/config: '{\"concurrency\": 1}'\n",
    )
    applied = mesh.pilotfish("apply", "-f", "-", stdin=app)
    assert applied.returncode == 0, applied.stderr
    assert (
        "warning: <stdin>:19: Deployment loud-v1 at spec.template.metadata.annotations"
        "[sidecar.istio.io/proxyCPULimit]: no effect here: no limits are set (local mode runs "
        "processes, not containers)"
    ) in applied.stderr, applied.stderr
    assert applied.stderr.count("warning:") == 1, applied.stderr
    mesh.wait_for(lambda: _ready(mesh, "loud-v1-0") == "2/2", what="the annotated pod")
    loggers = pilotfish_ok(mesh, "proxy-config", "log", "loud-v1-0")
    assert "  admin: debug\n" in loggers and "  misc: error\n" in loggers, loggers
    info = pilotfish_ok(
        mesh, "exec", "loud-v1-0", "-c", "istio-proxy", "--", "curl", "-s",
        "localhost:15000/server_info",
    )  # fmt: skip
    assert json.loads(info)["command_line_options"]["concurrency"] == 1  # ProxyConfig's
    plain = pilotfish_ok(mesh, "proxy-config", "log", "sleep")
    assert "  admin: warning\n" in plain, plain
    assert "Hello version: v1" in _hello(mesh, "loud")
    bad = mesh.pilotfish("apply", "-f", "-", stdin=app.replace("logLevel: debug", "logLevel: loud"))
    assert bad.returncode == 1, bad.stderr
    assert (
        "Deployment loud-v1 at spec.template.metadata.annotations[sidecar.istio.io/logLevel]: "
        "'loud' is not one of trace, debug, info, warning, error, critical, off"
    ) in bad.stderr, bad.stderr
