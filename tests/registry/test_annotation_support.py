"""Istio's annotations and labels on pods, Services and Namespaces
(`pilotfish.registry.annotation_support`): the table covers every one istio/api defines for
those kinds, README shows the table, and `apply` warns, naming the object, the key and why,
about each one that has no effect here; the log level annotations reach Envoy's flags."""

from __future__ import annotations

from pathlib import Path

from pilotfish.config.analyzers.annotations import catalogue
from pilotfish.registry.annotation_support import SUPPORT, markdown_table, metadata_warnings
from pilotfish.registry.inputs import Parsed, parse_documents

README = Path(__file__).resolve().parents[2] / "README.md"
KINDS = {"Pod", "Service", "Namespace"}
# istio/api label/labels.yaml (b8f8791), the labels set on pods, Services or Namespaces
ISTIO_LABELS = (
    "security.istio.io/tlsMode", "service.istio.io/canonical-name",
    "networking.istio.io/gatewayPort", "service.istio.io/canonical-revision",
    "service.istio.io/workload-name", "istio.io/rev", "topology.istio.io/network",
    "topology.istio.io/cluster", "topology.istio.io/locality", "sidecar.istio.io/inject",
    "istio.io/dataplane-mode", "istio.io/use-waypoint", "istio.io/use-waypoint-namespace",
    "istio.io/use-waypoint-canary", "istio.io/use-waypoint-canary-namespace",
    "istio.io/ingress-use-waypoint",
)  # fmt: skip


def test_the_table_covers_every_istio_annotation_and_label_of_these_kinds() -> None:
    annotations = {k for k, v in catalogue().items() if KINDS & set(v["resources"])}
    covered = {k for k, v in SUPPORT.items() if not v.label}
    assert annotations - covered == set()
    labelled = {k.partition("#")[0] for k, v in SUPPORT.items() if v.label}
    assert set(ISTIO_LABELS) - labelled == set()
    assert all(v.status in ("yes", "partly", "no", "mark") for v in SUPPORT.values())
    assert all(v.value_note is not None for v in SUPPORT.values() if v.status == "partly"
               and v.label is False and not v.note.startswith("fields"))  # fmt: skip


def test_readme_holds_the_table() -> None:
    assert markdown_table() in README.read_text()


def test_each_annotation_without_effect_is_named_with_why() -> None:
    notes = {
        "sidecar.istio.io/proxyCPU": "100m",
        "sidecar.istio.io/inject": "true",  # honoured: nothing to say
        "sidecar.istio.io/interceptionMode": "TPROXY",
        "sidecar.istio.io/rewriteAppHTTPProbers": "false",  # honoured (`agent.pod_probes`)
        "proxy.istio.io/config": "{holdApplicationUntilProxyStarts: true, tracing: {}}",
        "sidecar.istio.io/status": "{}",  # the injector's mark
        "example.com/other": "x",  # not Istio's
    }
    found = metadata_warnings("Deployment", {"istio.io/dataplane-mode": "ambient"}, notes,
                              "spec.template.")  # fmt: skip
    at = "spec.template.metadata.annotations"
    assert found == [
        (f"{at}[proxy.istio.io/config]", "no effect here: field(s) "
         "tracing are not applied here (read: terminationDrainDuration, proxyMetadata, "
         "proxyStatsMatcher, gatewayTopology, concurrency, holdApplicationUntilProxyStarts)"),
        (f"{at}[sidecar.istio.io/interceptionMode]", "no effect here: 'TPROXY' is not applied: "
         "captured pods (the isolated mode) use REDIRECT, Istio's default; local mode captures "
         "nothing"),
        (f"{at}[sidecar.istio.io/proxyCPU]", "no effect here: no resources are reserved (local "
         "mode runs processes, not containers)"),
        ("spec.template.metadata.labels[istio.io/dataplane-mode]", "no effect here: there is "
         "no ambient data plane (ztunnel, waypoints) here; pods keep their sidecars"),
    ]  # fmt: skip
    assert metadata_warnings("Pod", {}, {"sidecar.istio.io/interceptionMode": "REDIRECT"}) == []
    service = metadata_warnings("Service", {"istio.io/use-waypoint": "w"},
                                {"networking.istio.io/exportTo": ".",
                                 "sidecar.istio.io/proxyCPU": "1"})  # fmt: skip
    assert service == [("metadata.labels[istio.io/use-waypoint]", "no effect here: there is "
                        "no ambient data plane (ztunnel, waypoints) here; pods keep their "
                        "sidecars")]  # fmt: skip


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sidecar.istio.io/proxyMemoryLimit: 1Gi
        NOTES
    spec:
      containers: [{name: web, image: docker.io/x/y}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {traffic.istio.io/nodeSelector: '{"a": "b"}'}
spec:
  ports: [{port: 80, name: http}]
  selector: {app: web}
"""


def _parsed(notes: str) -> tuple[list[str], list[str], Parsed]:
    _, parsed = parse_documents([("m.yaml", DEPLOYMENT.replace("NOTES", notes))], namespaces={})
    found: dict[str, list[str]] = {"warning": [], "error": []}
    for d in parsed.diagnostics:
        found[d.level].append(str(d))
    return found["warning"], found["error"], parsed


def test_apply_warns_naming_file_line_object_and_key() -> None:
    warnings, errors, _ = _parsed("sidecar.istio.io/logLevel: debug")
    assert errors == []
    # `up DIR` parses without the mesh's namespaces: the same warnings
    _, up = parse_documents([("m.yaml", DEPLOYMENT.replace("NOTES", ""))])
    assert [str(d) for d in up.diagnostics if d.level == "warning"] == warnings
    assert warnings == [
        "m.yaml:10: Deployment web at spec.template.metadata.annotations"
        "[sidecar.istio.io/proxyMemoryLimit]: no effect here: no limits are set (local mode "
        "runs processes, not containers)",
        "m.yaml:19: Service web at metadata.annotations[traffic.istio.io/nodeSelector]: no "
        "effect here: the mesh is one cluster, one network and one node",
    ]


def test_log_level_annotations_become_envoys_flags_and_bad_levels_are_refused() -> None:
    _, _, parsed = _parsed(
        "sidecar.istio.io/logLevel: debug\n        "
        "sidecar.istio.io/componentLogLevel: 'misc:error,upstream:trace'"
    )
    (web,) = parsed.manifest.workloads
    assert web.log_levels == ("debug", "misc:error,upstream:trace")
    _, errors, _ = _parsed("sidecar.istio.io/logLevel: loud")
    assert errors == [
        "m.yaml:11: Deployment web at spec.template.metadata.annotations"
        "[sidecar.istio.io/logLevel]: 'loud' is not one of trace, debug, info, warning, error, "
        "critical, off"
    ]
    _, errors, _ = _parsed("sidecar.istio.io/componentLogLevel: 'upstream:chatty'")
    assert len(errors) == 1 and "[sidecar.istio.io/componentLogLevel]: 'chatty'" in errors[0]


def test_concurrency_is_read_and_a_bad_one_refused() -> None:
    _, _, parsed = _parsed("proxy.istio.io/config: '{concurrency: 1}'")
    assert [w.concurrency for w in parsed.manifest.workloads] == [1]
    _, errors, _ = _parsed("proxy.istio.io/config: '{concurrency: -2}'")
    assert errors == [
        "m.yaml:11: Deployment web at spec.template.metadata.annotations[proxy.istio.io/config]"
        ".concurrency: -2 is not a whole number >= 0"
    ]


def test_hold_application_is_the_pods_then_the_meshs_and_a_bad_one_refused() -> None:
    _, _, parsed = _parsed("proxy.istio.io/config: '{holdApplicationUntilProxyStarts: true}'")
    assert [w.hold_application for w in parsed.manifest.workloads] == [True]
    _, _, parsed = _parsed("proxy.istio.io/config: '{concurrency: 1}'")
    assert [w.hold_application for w in parsed.manifest.workloads] == [None]  # the mesh's
    _, errors, _ = _parsed("proxy.istio.io/config: '{holdApplicationUntilProxyStarts: yes}'")
    assert errors == [
        "m.yaml:11: Deployment web at spec.template.metadata.annotations[proxy.istio.io/config]"
        ".holdApplicationUntilProxyStarts: 'yes' is not true or false"
    ]
    for value, held in (("true", True), ("false", False)):
        _, mesh = parse_documents([("mesh.yaml", MESH.format(value))])
        assert mesh.ok and mesh.manifest.mesh.hold_application is held, mesh.diagnostics
    _, mesh = parse_documents([("mesh.yaml", MESH.format("1"))])
    assert [(d.path, d.message) for d in mesh.diagnostics] == [
        ("data.mesh", "defaultConfig.holdApplicationUntilProxyStarts: 1 is not true or false")
    ]


INJECTOR = """apiVersion: v1
kind: ConfigMap
metadata: {{name: istio-sidecar-injector, namespace: {}}}
data:
  values: '{}'
"""


def test_the_injectors_hold_value_is_read_from_its_configmap() -> None:
    """Istio's install keeps `values` in the `istio-sidecar-injector` ConfigMap, whose
    `global.proxy.holdApplicationUntilProxyStarts` its template ORs with each pod's ProxyConfig
    (`local.specs`): read apart from the mesh's `defaultConfig` one."""
    held = '{"global": {"proxy": {"holdApplicationUntilProxyStarts": true}}}'
    for namespace, values, expected in (
        ("istio-system", held, True),
        ("istio-system", held.replace("true", "false"), False),
        ("istio-system", '{"global": {"hub": "docker.io/istio"}}', False),
        ("default", held, False),  # not the injector's
    ):
        _, parsed = parse_documents([("i.yaml", INJECTOR.format(namespace, values))])
        assert parsed.ok, parsed.diagnostics
        mesh = parsed.manifest.mesh
        assert (mesh.injector_hold, mesh.hold_application) == (expected, False)
    for values, message in (
        (held.replace("true", '"yes"'), "global.proxy.holdApplicationUntilProxyStarts: 'yes' is"),
        ("{global", "is not JSON"),
    ):
        _, parsed = parse_documents([("i.yaml", INJECTOR.format("istio-system", values))])
        assert [(d.path, message in d.message) for d in parsed.diagnostics] == [
            ("data.values", True)
        ], parsed.diagnostics


MESH = """apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    defaultConfig:
      holdApplicationUntilProxyStarts: {}
"""


WORKLOAD = """apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata:
  name: w
  annotations: {sidecar.istio.io/logLevel: info, proxy.istio.io/config: '{concurrency: 0}'}
spec:
  command: [python, app.py]
"""


def test_a_pilotfish_workload_reads_the_same_annotations() -> None:
    _, parsed = parse_documents([("w.yaml", WORKLOAD)])
    assert parsed.ok, parsed.diagnostics
    (w,) = parsed.manifest.workloads
    assert (w.log_levels, w.concurrency) == (("info", ""), 0)
