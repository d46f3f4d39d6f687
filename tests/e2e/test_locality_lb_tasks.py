"""Istio's "Locality Load Balancing" tasks in local mode, through real Envoys.

As the tasks set it up, with their Kubernetes YAML: helloworld in namespace `sample` as
`gen-helloworld.sh --version <locality>` generates it, in four localities (each pod says where
it is with Istio's `istio-locality` label: region1.zone1, region1.zone2, region2.zone3,
region3.zone4), answering `Hello version: <its locality>, instance: …`, and Istio's curl
Deployment in region1.zone1. "Locality weighted distribution": the task's `distribute` rule
(70% zone1, 20% zone2, 10% region3, none to region2) splits requests close to those weights.
"Locality failover": with the task's rule (outlier detection, failover from region1 to
region3) every request stays in region1.zone1; scaling a locality to no pod moves them to the
next priority without a failed request (and back when it returns); draining that pod's Envoy
(the task's `POST /drain_listeners`) moves them to region1.zone2, then region3.zone4, then
region2.zone3, as the page shows. Assertions are on the responses the client gets.
"""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

LOCALITIES = ("region1.zone1", "region1.zone2", "region2.zone3", "region3.zone4")
HELLO = re.compile(r"Hello version: (\S+), instance: (\S+)")
CLUSTER = "outbound|5000||helloworld.sample.svc.cluster.local"

DISTRIBUTE = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  namespace: sample
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        enabled: true
        distribute:
        - from: region1/zone1/*
          to:
            "region1/zone1/*": 70
            "region1/zone2/*": 20
            "region3/zone4/*": 10
    outlierDetection:
      consecutive5xxErrors: 100
      interval: 1s
      baseEjectionTime: 1m
"""

FAILOVER = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
  namespace: sample
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http:
        maxRequestsPerConnection: 1
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failover:
          - from: region1
            to: region3
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 1m
"""


SAMPLE = """apiVersion: v1
kind: Namespace
metadata:
  name: sample
  labels:
    istio-injection: enabled
---
apiVersion: v1
kind: Service
metadata:
  name: helloworld
  namespace: sample
  labels:
    app: helloworld
    service: helloworld
spec:
  ports:
  - port: 5000
    name: http
  selector:
    app: helloworld
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: curl
  namespace: sample
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: curl
  namespace: sample
spec:
  replicas: 1
  selector:
    matchLabels:
      app: curl
  template:
    metadata:
      labels:
        app: curl
        istio-locality: region1.zone1
    spec:
      serviceAccountName: curl
      containers:
      - name: curl
        image: curlimages/curl
        command: ["/bin/sleep", "infinity"]
"""

HELLOWORLD = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld-@VERSION@
  namespace: sample
  labels:
    app: helloworld
    version: @VERSION@
spec:
  replicas: 1
  selector:
    matchLabels:
      app: helloworld
      version: @VERSION@
  template:
    metadata:
      labels:
        app: helloworld
        version: @VERSION@
        istio-locality: @VERSION@
    spec:
      containers:
      - name: helloworld
        env:
        - name: SERVICE_VERSION
          value: @VERSION@
        image: docker.io/istio/examples-helloworld-v1
        resources:
          requests:
            cpu: "100m"
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 5000
"""
"""`gen-helloworld.sh --version VERSION`'s Deployment (`helloworld-region1.zone1`: a
Deployment's name is a DNS subdomain), as the task generates it, with the pod's locality label
(the task's clusters have it from their nodes)."""


def _manifest() -> str:
    return "---\n".join([SAMPLE, *(HELLOWORLD.replace("@VERSION@", v) for v in LOCALITIES)])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    directory = tmp_path_factory.mktemp("locality")
    (directory / "helloworld.yaml").write_text(_manifest())
    with running_mesh(tmp_path_factory, str(directory)) as m:
        yield m


def _write(mesh: LocalMesh, name: str, text: str) -> str:
    path = Path(mesh.home) / name
    path.write_text(text)
    return str(path)


def _pod(mesh: LocalMesh, selector: str) -> str:
    path = "jsonpath={.items[0].metadata.name}"
    return pilotfish_ok(mesh, "get", "pod", "-n", "sample", "-l", selector, "-o", path).strip()


_CURL_PODS: dict[Path, str] = {}


def _curl_pod(mesh: LocalMesh) -> str:
    """The curl pod, `NAME.sample`, looked up once per mesh (no test scales or replaces it;
    `_hello` runs in polling loops, a `pilotfish get` each time was most of their time)."""
    if mesh.home not in _CURL_PODS:
        _CURL_PODS[mesh.home] = _pod(mesh, "app=curl") + ".sample"
    return _CURL_PODS[mesh.home]


def _hello(mesh: LocalMesh, n: int) -> Counter[str]:
    """`curl helloworld.sample:5000/hello` from the curl pod, `n` times, through its sidecar
    (as `pilotfish exec -n sample deploy/curl -- curl …` sends it): the versions that
    answered."""
    sidecar = mesh.proxy(_curl_pod(mesh))
    proxy = f"http://{sidecar['ip']}:15001"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    seen: Counter[str] = Counter()
    for _ in range(n):
        try:
            with opener.open("http://helloworld.sample:5000/hello", timeout=10) as response:
                body = response.read().decode()
        except OSError as exc:  # a 503 while a host is being ejected, as curl would show
            seen[f"error {exc}"] += 1
            continue
        found = HELLO.search(body)
        seen[found.group(1) if found else body] += 1
    return seen


def test_the_pods_and_the_client_are_where_their_labels_say(mesh: LocalMesh) -> None:
    curl = _pod(mesh, "app=curl")
    bootstrap = pilotfish_ok(mesh, "proxy-config", "bootstrap", curl, "-n", "sample", "-o", "json")
    assert '"region": "region1"' in bootstrap and '"zone": "zone1"' in bootstrap
    # the task's check, `kubectl exec … curl helloworld.sample:5000/hello`, as local mode runs it
    out = pilotfish_ok(
        mesh, "exec", "-n", "sample", "-c", "curl", "deploy/curl", "--", "curl", "-sS",
        "http://helloworld.sample:5000/hello",
    )  # fmt: skip
    assert HELLO.search(out), out


def test_locality_weighted_distribution_splits_as_the_weights_say(mesh: LocalMesh) -> None:
    mesh.apply(_write(mesh, "distribute.yaml", DISTRIBUTE))
    mesh.wait_for(lambda: _hello(mesh, 20)["region2.zone3"] == 0, what="the distribution")
    seen = _hello(mesh, 400)
    assert set(seen) <= {"region1.zone1", "region1.zone2", "region3.zone4"}, seen
    share = {k: v / 400 for k, v in seen.items()}
    assert 0.60 <= share["region1.zone1"] <= 0.80, seen
    assert 0.12 <= share["region1.zone2"] <= 0.28, seen
    assert 0.04 <= share["region3.zone4"] <= 0.16, seen


def _drain(mesh: LocalMesh, locality: str) -> None:
    """The task's step: `kubectl exec -n sample -c istio-proxy <pod> -- curl -sSL -X POST
    127.0.0.1:15000/drain_listeners`."""
    pod = _pod(mesh, f"version={locality}")
    pilotfish_ok(
        mesh, "exec", "-n", "sample", "-c", "istio-proxy", pod, "--",
        "curl", "-sSL", "-X", "POST", "127.0.0.1:15000/drain_listeners",
    )  # fmt: skip


def _only(mesh: LocalMesh, locality: str) -> None:
    """After at most a few failed requests (the outlier detector ejecting a drained pod), every
    request is answered from `locality`."""
    mesh.wait_for(lambda: set(_hello(mesh, 5)) == {locality}, timeout=30, what=locality)
    seen = _hello(mesh, 20)
    assert seen == Counter({locality: 20}), seen


def _scale(mesh: LocalMesh, locality: str, replicas: int) -> None:
    name = f"deploy/helloworld-{locality}"
    pilotfish_ok(mesh, "scale", name, "-n", "sample", f"--replicas={replicas}")


def test_a_locality_left_empty_moves_requests_to_the_next_priority(mesh: LocalMesh) -> None:
    """The endpoint change alone (an EDS push of new priorities to each proxy): no request fails,
    as the pod leaves the endpoints before it stops."""
    mesh.apply(_write(mesh, "failover.yaml", FAILOVER))
    _only(mesh, "region1.zone1")
    _scale(mesh, "region1.zone1", 0)
    assert _hello(mesh, 20) == Counter({"region1.zone2": 20})
    _scale(mesh, "region1.zone2", 0)
    assert _hello(mesh, 20) == Counter({"region3.zone4": 20})
    _scale(mesh, "region1.zone1", 1)
    _only(mesh, "region1.zone1")
    _scale(mesh, "region1.zone2", 1)
    mesh.wait_for(lambda: _endpoint_count(mesh) == 4, what="region1.zone2 back")


def _endpoint_count(mesh: LocalMesh) -> int:
    curl = _curl_pod(mesh)
    table = pilotfish_ok(mesh, "proxy-config", "endpoint", curl, "--cluster", CLUSTER)
    return len(table.strip().splitlines()) - 1


def test_locality_failover_follows_the_priorities_of_the_page(mesh: LocalMesh) -> None:
    mesh.apply(_write(mesh, "failover.yaml", FAILOVER))
    _only(mesh, "region1.zone1")
    curl = _pod(mesh, "app=curl") + ".sample"
    endpoints = pilotfish_ok(
        mesh, "proxy-config", "endpoint", curl, "--cluster", CLUSTER, "-o", "json"
    )
    assert '"region": "region2"' in endpoints and '"priority": 3' in endpoints, endpoints
    _drain(mesh, "region1.zone1")
    _only(mesh, "region1.zone2")
    _drain(mesh, "region1.zone2")
    _only(mesh, "region3.zone4")  # failover from region1 goes to region3 before region2
    _drain(mesh, "region3.zone4")
    _only(mesh, "region2.zone3")
