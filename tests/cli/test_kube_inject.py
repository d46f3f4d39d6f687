"""`kube-inject`'s output: each pod (Pod, Workload, pod templates, a CronJob's, a List's items)
marked as istioctl marks it (`sidecar.istio.io/status`, `istio.io/rev`, the default container,
the injection template's tlsMode and canonical labels) and labelled `sidecar.istio.io/inject:
"true"`; pods istioctl skips (opted out, hostNetwork, system namespaces) and other documents
unchanged, with istioctl's skip lines; the kinds istioctl decodes written back as it writes them
(sorted, comments gone, its types' empty fields), the others as written (comments kept), each
document ended by `---`; bad YAML named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pilotfish.cli.errors import UserError
from pilotfish.cli.kube_inject import STATUS, kube_inject
from pilotfish.cli.kube_inject_typed import with_type_fields

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
    docs = [d for d in YAML(typ="safe").load_all(text) if d is not None]
    assert [d["kind"] for d in docs] == ["Service", "Deployment", "Pod", "Pod", "CronJob", "List"]
    inject, status = "sidecar.istio.io/inject", {"sidecar.istio.io/status": STATUS}
    rev = {"istio.io/rev": "default"}

    def istio(name: str) -> dict[str, str]:  # the injection template's labels
        return {
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": name,
            "service.istio.io/canonical-revision": "latest",
        }

    def default_container(name: str) -> dict[str, str]:
        return {
            "kubectl.kubernetes.io/default-logs-container": name,
            "kubectl.kubernetes.io/default-container": name,
        }

    assert docs[0] == YAML(typ="safe").load(MANIFEST.split("---")[0])
    template = docs[1]["spec"]["template"]["metadata"]
    assert template["labels"] == {"app": "web", **istio("web"), inject: "true"}
    assert template["annotations"] == {**rev, **default_container("web"), **status}
    assert docs[2]["metadata"]["labels"] == {**istio("p"), inject: "true"}
    assert docs[2]["metadata"]["annotations"] == {**rev, **default_container("p"), **status}
    assert docs[3]["metadata"] == {  # opted out
        "name": "out",
        "annotations": {inject: "false"},
        "creationTimestamp": None,
    }
    template = docs[4]["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["labels"] == {**istio("c"), inject: "true"}
    workload = docs[5]["items"][0]["metadata"]
    assert workload["labels"] == {**istio("w"), inject: "true"}
    workdir = {"pilotfish.io/workdir": str(tmp_path.resolve())}
    assert workload["annotations"] == {**rev, **status, **workdir}
    assert STATUS.startswith('{"initContainers":null,"containers":["istio-proxy"],')


WRITTEN_BACK = """# the service: istioctl copies it
apiVersion: v1
kind: Service
metadata: {name: web}  # kept
spec: {ports: [{port: 80}]}
---
# the deployment: istioctl decodes it
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web  # the app
        image: x
"""


def test_kinds_istioctl_decodes_are_written_back_as_it_writes_them(tmp_path: Path) -> None:
    """istioctl's IntoResourceFile: a Deployment goes through Kubernetes' Go types and
    sigs.k8s.io/yaml (keys sorted, comments gone, `creationTimestamp: null`, `resources: {}`,
    `strategy: {}`, `status: {}`); a Service, a kind it does not decode, is copied as written.
    Each document ends with `---`."""
    path = tmp_path / "m.yaml"
    path.write_text(WRITTEN_BACK)
    service, deployment, end = kube_inject([str(path)]).split("---\n")
    assert service == WRITTEN_BACK.split("---\n")[0]
    assert end == ""
    assert "#" not in deployment
    assert deployment.startswith(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  creationTimestamp: null\n"
        "  name: web\nspec:\n  strategy: {}\n  template:\n    metadata:\n      annotations:\n"
    ), deployment
    assert deployment.endswith(
        "    spec:\n      containers:\n      - image: x\n        name: web\n"
        "        resources: {}\nstatus: {}\n"
    ), deployment


NUMBERS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  revisionHistoryLimit: 0x0A
  template:
    spec:
      terminationGracePeriodSeconds: 0
      hostIPC: &no false
      hostPID: *no
      containers:
      - name: web
        image: x
        ports: [{containerPort: 8_080}]
        resources: {limits: {cpu: 1.5e0}}
"""


def test_numbers_and_anchored_booleans_are_written_as_go_types_hold_them(
    tmp_path: Path,
) -> None:
    """Every scalar YAML gives (ruamel's ScalarInt for `0`, hex and `_` digits, ScalarFloat,
    anchored ScalarBoolean) is written as the Go type's value: istio's own curl/sleep samples
    carry `terminationGracePeriodSeconds: 0`."""
    path = tmp_path / "m.yaml"
    path.write_text(NUMBERS)
    deployment = kube_inject([str(path)])
    for line in (
        "  replicas: 0\n",
        "  revisionHistoryLimit: 10\n",
        "      terminationGracePeriodSeconds: 0\n",
        "      hostIPC: false\n",
        "      hostPID: false\n",
        "        - containerPort: 8080\n",
        "            cpu: 1.5\n",
    ):
        assert line in deployment, (line, deployment)


SKIPPED = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      labels: {sidecar.istio.io/inject: "off"}
      annotations: {sidecar.istio.io/inject: "true"}
    spec: {containers: [{name: web, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: host}
spec: {hostNetwork: true, containers: [{name: p, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: kube-system}
spec: {containers: [{name: p, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agreed, annotations: {sidecar.istio.io/inject: "Yes"}}
spec: {containers: [{name: p, image: x}]}
"""


def test_pods_istioctl_skips_are_left_alone_and_named(tmp_path: Path) -> None:
    """The label wins over the annotation; hostNetwork and the system namespaces are skipped
    whatever the pod says; `Yes` is the injector's yes (istioctl's rules, from the pod alone)."""
    path = tmp_path / "m.yaml"
    path.write_text(SKIPPED)
    skipped: list[str] = []
    docs = list(YAML(typ="safe").load_all(kube_inject([str(path)], skipped)))
    given = list(YAML(typ="safe").load_all(SKIPPED))[:3]
    assert docs[:3] == [with_type_fields(d) for d in given]  # decoded, written back
    assert docs[3]["metadata"]["annotations"]["sidecar.istio.io/status"] == STATUS
    assert skipped == [
        '===> Skipping injection because Deployment "shop/web" has sidecar injection disabled',
        '===> Skipping injection because Pod "host" has host networking enabled',
        '===> Skipping injection because Pod "kube-system/dns" has sidecar injection disabled',
    ]


CANONICAL = """apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2}
spec:
  template:
    metadata:
      labels: {app: reviews, version: v2}
      annotations: {kubectl.kubernetes.io/default-container: app}
    spec: {containers: [{name: istio-proxy, image: x}, {name: reviews, image: x}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    app.kubernetes.io/name: "--shop.front-end-with-a-name-much-longer-than-sixty-three-characters-x"
    app: ignored
    app.kubernetes.io/version: "2.1"
    version: ignored
---
apiVersion: v1
kind: Pod
metadata:
  name: q
  labels:
    security.istio.io/tlsMode: disabled
    service.istio.io/canonical-name: mine
    service.istio.io/canonical-revision: r7
    app: ignored
"""


def test_canonical_labels_as_istios_injection_template_gives_them(tmp_path: Path) -> None:
    """`app.kubernetes.io/name` before `app`, `app.kubernetes.io/version` before `version`, a
    pod's own labels kept; the name cut to 63 characters and trimmed of `-_.`; the default
    container is the first that is not istio-proxy, unless the pod names one."""
    path = tmp_path / "m.yaml"
    path.write_text(CANONICAL)
    docs = list(YAML(typ="safe").load_all(kube_inject([str(path)])))
    meta = docs[0]["spec"]["template"]["metadata"]
    assert meta["labels"]["service.istio.io/canonical-name"] == "reviews"
    assert meta["labels"]["service.istio.io/canonical-revision"] == "v2"
    assert meta["annotations"]["kubectl.kubernetes.io/default-container"] == "app"
    assert meta["annotations"]["kubectl.kubernetes.io/default-logs-container"] == "reviews"
    labels = docs[1]["metadata"]["labels"]
    long = "--shop.front-end-with-a-name-much-longer-than-sixty-three-characters-x"
    assert labels["service.istio.io/canonical-name"] == long[:63].strip("-.")
    assert labels["service.istio.io/canonical-name"].startswith("shop.front-end")
    assert labels["service.istio.io/canonical-revision"] == "2.1"
    labels = docs[2]["metadata"]["labels"]
    assert labels["security.istio.io/tlsMode"] == "disabled"
    assert labels["service.istio.io/canonical-name"] == "mine"
    assert labels["service.istio.io/canonical-revision"] == "r7"


def test_bad_yaml_and_missing_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [\n")
    with pytest.raises(UserError, match=rf"{path}:3: invalid YAML"):
        kube_inject([str(path)])
    with pytest.raises(UserError, match=r"nope\.yaml: no such file"):
        kube_inject([str(tmp_path / "nope.yaml")])
    with pytest.raises(UserError, match=r"-f FILE"):
        kube_inject([])
