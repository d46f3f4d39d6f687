"""`sidecar.istio.io/bootstrapOverride` (`pilotfish.registry.bootstrap_override`): the named
ConfigMap's `custom_bootstrap.json`, read as pilot-agent reads it (YAML or JSON, `$(HOST_IP)`);
a missing ConfigMap keeps the pod from starting with the kubelet's words; an unreadable file is
said at apply, on the pod and on the ConfigMap; Envoy gets it as `--config-yaml`."""

from __future__ import annotations

import json
from pathlib import Path

from pilotfish.agent.spec import AgentSpec, envoy_argv
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.bootstrap_override import override_json, pod_override
from pilotfish.registry.inputs import parse_documents

# Istio's samples/custom-bootstrap shape: a top-level key without braces (YAML, not JSON)
SAMPLE = """"tracing": {
  "http": {
    "name": "envoy.tracers.zipkin",
    "typed_config": {
      "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
      "collector_cluster": "zipkin",
      "collector_endpoint": "/api/v1/spans/custom"
    }
  }
}
"""
NOTE = {"sidecar.istio.io/bootstrapOverride": "custom"}


def test_the_samples_file_is_read_as_pilot_agent_reads_it() -> None:
    value = json.loads(override_json(SAMPLE))
    assert value["tracing"]["http"]["typed_config"]["collector_endpoint"] == "/api/v1/spans/custom"
    with_ip = json.loads(override_json('{"admin": {"address": "$(HOST_IP)"}}', "10.0.0.7"))
    assert with_ip == {"admin": {"address": "10.0.0.7"}}
    six = json.loads(override_json('{"a": "[$(HOST_IP)]:8126", "b": "$(HOST_IP)"}', "ff06::c3"))
    assert six == {"a": "[ff06::c3]:8126", "b": "[ff06::c3]"}


def test_a_pod_with_the_annotation_gets_the_file_or_the_kubelets_error() -> None:
    maps = {("default", "custom"): {"custom_bootstrap.json": SAMPLE}}
    assert pod_override({}, "default", maps).config == ""
    assert pod_override(NOTE, "default", maps).config == SAMPLE
    missing = pod_override(NOTE, "foo", maps)
    assert (missing.config, missing.missing) == (
        "",
        'MountVolume.SetUp failed for volume "custom-bootstrap-volume" : configmap "custom" '
        "not found",
    )
    no_key = pod_override(NOTE, "default", {("default", "custom"): {"other": "x"}})
    assert no_key.config == "" and no_key.warning == (
        "Failed to read bootstrap override: /etc/istio/custom-bootstrap/custom_bootstrap.json: "
        "ConfigMap default/custom has no key custom_bootstrap.json: the sidecar starts without "
        "the override"
    )
    bad = pod_override(NOTE, "default", {("default", "custom"): {"custom_bootstrap.json": "{a"}})
    assert bad.config == "" and "data.custom_bootstrap.json is not YAML or JSON (line" in (
        bad.warning
    )
    listed = pod_override(NOTE, "default", {("default", "custom"): {"custom_bootstrap.json": "[]"}})
    assert "not a mapping of bootstrap fields" in listed.warning


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sidecar.istio.io/bootstrapOverride: custom
    spec:
      containers: [{name: web, image: docker.io/x/y}]
---
"""


def _config_map(text: str) -> str:
    body = "\n".join("    " + line for line in text.splitlines())
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: custom, namespace: default}\n"
        f"data:\n  custom_bootstrap.json: |\n{body}\n---\n"
    )


def test_apply_reads_the_configmap_held_with_the_pod() -> None:
    _, parsed = parse_documents([("m.yaml", _config_map(SAMPLE) + DEPLOYMENT)])
    assert parsed.ok, parsed.diagnostics
    (web,) = parsed.manifest.workloads
    assert json.loads(override_json(web.bootstrap_override))["tracing"]["http"]
    assert (web.config_error, web.volume_error) == ("", "")
    _, alone = parse_documents([("m.yaml", DEPLOYMENT)])
    (waiting,) = alone.manifest.workloads
    assert waiting.volume_error == waiting.config_error
    assert 'configmap "custom" not found' in waiting.volume_error


def test_apply_warns_about_a_file_no_sidecar_can_read() -> None:
    _, parsed = parse_documents([("m.yaml", _config_map('"tracing": {') + DEPLOYMENT)])
    warnings = [str(d) for d in parsed.diagnostics if d.level == "warning"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(
        "m.yaml:5: ConfigMap custom at data[custom_bootstrap.json]: not YAML or JSON (line "
    ), warnings
    assert warnings[0].endswith(
        "a pod naming this ConfigMap in sidecar.istio.io/bootstrapOverride starts its sidecar "
        "without the override, as Istio's agent does"
    )
    assert warnings[1].startswith(
        "m.yaml:17: Deployment web at spec.template.metadata.annotations"
        "[sidecar.istio.io/bootstrapOverride]: Failed to read bootstrap override: "
    ), warnings
    assert parsed.ok  # as Istio's agent: the pod runs, without the override


def test_envoy_gets_the_override_as_config_yaml(tmp_path: Path) -> None:
    proxy = Proxy(type=ProxyType.SIDECAR, ip="127.1.1.1", instance="web-0", namespace="default")
    spec = AgentSpec(proxy, "127.1.0.1", 15010, tmp_path, bootstrap_override='{"a": 1}')
    argv = envoy_argv(spec, [])
    assert argv[argv.index("--config-yaml") + 1] == '{"a": 1}'
    plain = envoy_argv(AgentSpec(proxy, "127.1.0.1", 15010, tmp_path), [])
    assert "--config-yaml" not in plain
