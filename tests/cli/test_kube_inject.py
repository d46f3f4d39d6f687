"""`kube-inject`'s output: each pod (Pod, Workload, pod templates, a CronJob's, a List's items)
labelled `sidecar.istio.io/inject: "true"`, pods that opt out and other documents unchanged,
comments kept; bad YAML named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pilotfish.cli.errors import UserError
from pilotfish.cli.kube_inject import kube_inject

MANIFEST = """# a comment that stays
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: p, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: out, annotations: {sidecar.istio.io/inject: "false"}}
spec: {containers: [{name: p, image: x}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec: {jobTemplate: {spec: {template: {spec: {containers: []}}}}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: pilotfish.io/v1alpha1, kind: Workload, metadata: {name: w}, spec: {}}
"""


def test_pods_are_labelled_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    text = kube_inject([str(path)])
    assert text.startswith("# a comment that stays\n")
    docs = list(YAML(typ="safe").load_all(text))
    assert [d["kind"] for d in docs] == ["Service", "Deployment", "Pod", "Pod", "CronJob", "List"]
    inject = "sidecar.istio.io/inject"
    assert docs[0] == YAML(typ="safe").load(MANIFEST.split("---")[0])
    assert docs[1]["spec"]["template"]["metadata"]["labels"] == {"app": "web", inject: "true"}
    assert docs[2]["metadata"]["labels"] == {inject: "true"}
    assert "labels" not in docs[3]["metadata"]  # it opted out
    template = docs[4]["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["labels"] == {inject: "true"}
    workload = docs[5]["items"][0]["metadata"]
    assert workload["labels"] == {inject: "true"}
    assert workload["annotations"] == {"pilotfish.io/workdir": str(tmp_path.resolve())}


def test_bad_yaml_and_missing_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [\n")
    with pytest.raises(UserError, match=rf"{path}:3: invalid YAML"):
        kube_inject([str(path)])
    with pytest.raises(UserError, match=r"nope\.yaml: no such file"):
        kube_inject([str(tmp_path / "nope.yaml")])
    with pytest.raises(UserError, match=r"-f FILE"):
        kube_inject([])
