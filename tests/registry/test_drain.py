"""Istio's terminationDrainDuration: pod annotation, mesh default, pilot-agent env, 5 s."""

from __future__ import annotations

from pilotfish import config
from pilotfish.registry.drain import env_drain_seconds, termination_drain
from pilotfish.registry.manifest import parse_manifest

WORKLOAD = """\
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: reviews-v2
  annotations: {{proxy.istio.io/config: '{config}'}}
spec:
  command: ["python", "reviews.py"]
  ports: [9080]
"""

MESH = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    defaultConfig:
      terminationDrainDuration: {drain}
"""


def _parse(text: str):  # type: ignore[no-untyped-def]
    return parse_manifest(config.load(text, "m.yaml").others)


def test_annotation_and_mesh_default_set_the_drain() -> None:
    manifest, problems = _parse(
        WORKLOAD.format(config='{"terminationDrainDuration": "1500ms"}')
        + "---\n"
        + MESH.format(drain="12s")
    )
    assert problems == []
    assert manifest.workloads[0].termination_drain == 1.5
    assert manifest.mesh.termination_drain == 12.0
    yaml_form, _ = _parse(WORKLOAD.format(config="terminationDrainDuration: 0s"))
    assert yaml_form.workloads[0].termination_drain == 0.0
    other, _ = _parse(WORKLOAD.format(config="concurrency: 2"))
    assert other.workloads[0].termination_drain is None


def test_bad_drain_is_an_error_naming_the_annotation() -> None:
    manifest, problems = _parse(WORKLOAD.format(config='{"terminationDrainDuration": "soon"}'))
    assert manifest.workloads == ()
    assert [str(p) for p in problems] == [
        "m.yaml:5: Workload reviews-v2 at metadata.annotations[proxy.istio.io/config]"
        ".terminationDrainDuration: 'soon' is not a duration from 0s to 1h"
    ]
    _, mesh_problems = _parse(MESH.format(drain="-1s"))
    assert "defaultConfig.terminationDrainDuration" in str(mesh_problems[0])


def test_precedence_pod_then_mesh_then_env_then_five_seconds() -> None:
    assert termination_drain(1.0, 2.0, 3.0) == 1.0
    assert termination_drain(None, 2.0, 3.0) == 2.0
    assert (
        termination_drain(
            None, None, env_drain_seconds({"TERMINATION_DRAIN_DURATION_SECONDS": "0"})
        )
        == 0.0
    )
    assert (
        termination_drain(
            None, None, env_drain_seconds({"TERMINATION_DRAIN_DURATION_SECONDS": "x"})
        )
        == 5.0
    )
    assert termination_drain(None, None) == 5.0


def test_a_gateway_pod_sets_its_own_trusted_proxies() -> None:
    """`gatewayTopology.numTrustedProxies` in the same annotation (Istio's per-gateway
    override); a bad value is an error naming the field; unset leaves the mesh's."""
    manifest, problems = _parse(
        WORKLOAD.format(config='{"gatewayTopology": {"numTrustedProxies": 2}}')
    )
    assert problems == []
    assert manifest.workloads[0].num_trusted_proxies == 2
    unset, _ = _parse(WORKLOAD.format(config='{"terminationDrainDuration": "1s"}'))
    assert unset.workloads[0].num_trusted_proxies is None
    bad, problems = _parse(WORKLOAD.format(config='{"gatewayTopology": {"numTrustedProxies": -1}}'))
    assert bad.workloads == ()
    assert [str(p) for p in problems] == [
        "m.yaml:5: Workload reviews-v2 at metadata.annotations[proxy.istio.io/config]"
        ".gatewayTopology.numTrustedProxies: -1 is not a number of proxies (0 or more)"
    ]


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: curl}}
spec:
  selector: {{matchLabels: {{app: curl}}}}
  template:
    metadata:
      labels: {{app: curl}}
      annotations:
        proxy.istio.io/config: |
          proxyMetadata:
            ISTIO_META_DNS_CAPTURE: "{capture}"
    spec:
      containers:
      - {{name: curl, image: curlimages/curl, command: ["/bin/sleep", "infinity"]}}
"""


def test_a_deployments_pod_annotation_sets_its_proxy_metadata() -> None:
    """The template's `proxy.istio.io/config` `proxyMetadata`, as Istio's DNS Proxying page
    enables `ISTIO_META_DNS_CAPTURE` per pod; a bad value names the template's field."""
    docs = config.load(DEPLOYMENT.format(capture="true"), "m.yaml").others
    manifest, problems = parse_manifest(docs, require_images=False)
    assert problems == []
    assert manifest.workloads[0].proxy_metadata.dns_capture is True
    docs = config.load(DEPLOYMENT.format(capture="maybe"), "m.yaml").others
    manifest, problems = parse_manifest(docs, require_images=False)
    assert manifest.workloads == ()
    assert "ISTIO_META_DNS_CAPTURE: 'maybe' is not a boolean" in str(problems[0])
    assert "spec.template.metadata.annotations[proxy.istio.io/config]" in str(problems[0])
