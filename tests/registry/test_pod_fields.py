"""The Downward API in a Deployment's env (`registry.pod_fields`): what the kubelet gives a
container, with a running pod's values filled in per instance."""

from __future__ import annotations

import pytest

from pilotfish.registry.images import load_image_map
from pilotfish.registry.inputs import Parsed, parse_documents
from pilotfish.registry.pod_fields import NODE_NAME, PodFacts, pod_uid, quantity, resolve

SOURCE = "/srv/k8s/otel.yaml"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: otel, namespace: obs}
spec:
  selector: {matchLabels: {app: otel}}
  template:
    metadata:
      labels: {app: otel, version: v2}
      annotations: {team: blue}
    spec:
      serviceAccountName: otel-sa
      containers:
      - name: collector
        image: docker.io/kong/httpbin:latest
        args: [--name=$(MY_POD_NAME), --ip=$(MY_POD_IP)]
        resources:
          limits: {memory: 128Mi}
          requests: {cpu: 250m}
        env:
%s"""
ENV = """        - {name: MY_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: MY_NS, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}}
        - {name: MY_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
        - {name: MY_VERSION, valueFrom: {fieldRef: {fieldPath: "metadata.labels['version']"}}}
        - {name: MY_TEAM, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}}
        - {name: MY_MISSING, valueFrom: {fieldRef: {fieldPath: "metadata.labels['none']"}}}
        - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: MY_SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
        - {name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: MY_POD_IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
        - {name: MY_HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
        - {name: CPU_REQ_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
        - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu}}}
        - {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        - {name: MEM_LIMIT_MI, valueFrom: {resourceFieldRef: {resource: limits.memory,
            divisor: 1Mi, containerName: collector}}}
        - {name: MEM_REQ, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
        - {name: GREETING, value: "hello $(MY_POD_NAME) in $(MY_NS)"}
"""


def parse(env: str) -> Parsed:
    images = load_image_map()
    return parse_documents([(SOURCE, DEPLOYMENT % env)], images=lambda: images)[1]


FACTS = PodFacts("otel-1", "obs", "10.9.0.7", "127.0.0.1", cpus=3, memory=2**30)


def test_downward_api_values_as_the_kubelet_gives_them() -> None:
    parsed = parse(ENV)
    assert parsed.ok, [d.message for d in parsed.diagnostics]
    workload = parsed.manifest.workloads[0]
    env = {k: resolve(v, FACTS) for k, v in workload.env}
    assert env == {
        "MY_POD_NAME": "otel-1", "MY_NS": "obs", "MY_UID": pod_uid("obs", "otel-1", "10.9.0.7"),
        "MY_VERSION": "v2", "MY_TEAM": "blue", "MY_MISSING": "", "MY_NODE": NODE_NAME,
        "MY_SA": "otel-sa", "MY_POD_IP": "10.9.0.7", "MY_POD_IPS": "10.9.0.7",
        "MY_HOST_IP": "127.0.0.1", "CPU_REQ_M": "250", "CPU_REQ": "1",
        "CPU_LIMIT": "3",  # no limit: the node's allocatable
        "MEM_LIMIT_MI": "128", "MEM_REQ": str(128 * 2**20),  # requests default to limits
        "GREETING": "hello otel-1 in obs",
    }  # fmt: skip
    words = [resolve(w, FACTS) for w in workload.command]
    assert words[-2:] == ["--name=otel-1", "--ip=10.9.0.7"]
    other = PodFacts("otel-0", "obs", "10.9.0.6", "127.0.0.1", 3, 2**30)
    assert resolve(dict(workload.env)["MY_UID"], other) != env["MY_UID"]


@pytest.mark.parametrize(
    ("item", "path", "message"),
    [
        ("{name: X, valueFrom: {fieldRef: {fieldPath: spec.serviceAccount}}}",
         "env[0].valueFrom.fieldRef.fieldPath",
         'Unsupported value: "spec.serviceAccount": supported values: "metadata.name", '
         '"metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", '
         '"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"'),
        ("{name: X, valueFrom: {fieldRef: {fieldPath: metadata.labels}}}",
         "env[0].valueFrom.fieldRef.fieldPath", 'Unsupported value: "metadata.labels"'),
        ("{name: X, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}",
         "env[0].valueFrom.resourceFieldRef.resource", 'Unsupported value: "limits.gpu"'),
        ("{name: X, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1m}}}",
         "env[0].valueFrom.resourceFieldRef.divisor",
         "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are"
         " supported with the memory resource"),
        ("{name: X, valueFrom: {resourceFieldRef: {resource: limits.cpu, containerName: app}}}",
         "env[0].valueFrom.resourceFieldRef.containerName", 'Invalid value: "app"'),
        ("{name: X, value: a, valueFrom: {fieldRef: {fieldPath: metadata.name}}}",
         "env[0].valueFrom", "may not be specified when `value` is not empty"),
        ("{name: X, valueFrom: {fieldRef: {fieldPath: metadata.name},"
         " resourceFieldRef: {resource: limits.cpu}}}",
         "env[0].valueFrom", "may not have more than one field specified at a time"),
    ],
)  # fmt: skip
def test_what_kubernetes_refuses_is_refused_naming_file_line_and_field(
    item: str, path: str, message: str
) -> None:
    parsed = parse(f"        - {item}\n")
    assert not parsed.ok
    hits = [d for d in parsed.diagnostics if d.level == "error"]
    assert len(hits) == 1 and hits[0].path.endswith(path), hits
    assert message in hits[0].message
    assert (hits[0].source.file, hits[0].source.line) == (SOURCE, 20)


def test_quantities() -> None:
    assert [quantity(q) for q in ("500m", "0.5", "1e3", "128Mi", "1k", "x", "")] == [
        quantity("0.5"),
        0.5,
        1000,
        128 * 2**20,
        1000,
        None,
        None,
    ]
