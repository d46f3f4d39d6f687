"""Istio's traffic management tasks typed as their pages type them, with the pages' own YAML
(Istio fidelity: the project is checked from outside with Istio's files): `kubectl` is
`pilotfish`, nothing else changed.

Mirroring: `cat <<EOF | kubectl create -f -` of the page's httpbin-v1/v2 Deployments (gunicorn
with `--access-logfile -`) and Service, all traffic to v1, then `mirror` to v2 applied over it;
each step checked with the page's `kubectl logs "$V1_POD" -c httpbin`; the page's cleanup. Its
earlier form too, pasted into bash: `istioctl kube-inject -f - | kubectl create -f -` of each
Deployment, its own `sleep` on `tutum/curl`, and the deprecated `mirrorPercent: 100`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh

# the Mirroring page's Deployments, as typed there (only the version differs)
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin-{v}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: httpbin
      version: {v}
  template:
    metadata:
      labels:
        app: httpbin
        version: {v}
    spec:
      containers:
      - image: docker.io/kennethreitz/httpbin
        imagePullPolicy: IfNotPresent
        name: httpbin
        command: ["gunicorn", "--access-logfile", "-", "-b", "0.0.0.0:80", "httpbin:app"]
        ports:
        - containerPort: 80
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  labels:
    app: httpbin
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 80
  selector:
    app: httpbin
"""
ALL_TO_V1 = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
"""
MIRROR = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
    mirror:
      host: httpbin
      subset: v2
    mirrorPercentage:
      value: 100.0
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, None) as m:
        yield m


def _pod(mesh: LocalMesh, selector: str) -> str:
    jsonpath = "jsonpath={.items..metadata.name}"
    return pilotfish_ok(mesh, "get", "pod", "-l", selector, "-o", jsonpath).strip()


def _headers_requests(mesh: LocalMesh, pod: str) -> int:
    log = pilotfish_ok(mesh, "logs", pod, "-c", "httpbin")
    return sum('"GET /headers HTTP/1.1" 200' in line for line in log.splitlines())


def test_istio_mirroring_task(mesh: LocalMesh) -> None:
    pilotfish_ok(mesh, "label", "namespace", "default", "istio-injection=enabled")
    for version in ("v1", "v2"):
        created = pilotfish_ok(mesh, "create", "-f", "-", stdin=DEPLOYMENT.format(v=version))
        assert f"deployment.apps/httpbin-{version} created" in created, created
    assert "service/httpbin created" in pilotfish_ok(mesh, "create", "-f", "-", stdin=SERVICE)
    pilotfish_ok(mesh, "create", "-f", "samples/sleep/sleep.yaml")
    again = mesh.pilotfish("create", "-f", "-", stdin=SERVICE)  # kubectl's refusal
    assert again.returncode == 1, again.stdout
    assert again.stderr.startswith(
        'Error from server (AlreadyExists): error when creating "STDIN": '
        'services "httpbin" already exists\n'
    ), again.stderr
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=ALL_TO_V1)
    sleep_pod = _pod(mesh, "app=sleep")
    v1_pod, v2_pod = _pod(mesh, "app=httpbin,version=v1"), _pod(mesh, "app=httpbin,version=v2")
    curl = ["exec", sleep_pod, "-c", "sleep", "--", "curl", "-sS", "http://httpbin:8000/headers"]
    assert '"Host": "httpbin:8000"' in pilotfish_ok(mesh, *curl)
    assert (_headers_requests(mesh, v1_pod), _headers_requests(mesh, v2_pod)) == (1, 0)

    pilotfish_ok(mesh, "apply", "-f", "-", stdin=MIRROR)  # over the rule the sidecar used
    pilotfish_ok(mesh, *curl)
    mesh.wait_for(lambda: _headers_requests(mesh, v2_pod) == 1, what="the mirrored request")
    assert _headers_requests(mesh, v1_pod) == 2

    # the page's cleanup; `get deploy` lists the sample's sleep Workload, so delete takes it too
    pilotfish_ok(mesh, "delete", "virtualservice", "httpbin")
    pilotfish_ok(mesh, "delete", "destinationrule", "httpbin")
    pilotfish_ok(mesh, "delete", "deploy", "httpbin-v1", "httpbin-v2", "sleep")
    pilotfish_ok(mesh, "delete", "svc", "httpbin")
    assert pilotfish_ok(mesh, "get", "pods") == "", "no pod left"


REVIEWS_V2 = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
    - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v2
"""
RATINGS_DELAY = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - fault:
      delay:
        percentage:
          value: 100
        fixedDelay: 2s
    route:
    - destination:
        host: ratings
        subset: v1
"""
REVIEWS_TIMEOUT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v2
    timeout: 0.5s
"""
REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book."


def _page(bookinfo: LocalMesh) -> tuple[str, float]:
    start = time.monotonic()
    resp = bookinfo.get("/productpage", timeout=30)
    assert resp.status == 200, resp.status
    return resp.body, time.monotonic() - start


def test_istio_request_timeouts_task(bookinfo: LocalMesh) -> None:
    """Request Timeouts: all to v1, reviews to v2, a 2 s delay on ratings (the page comes with
    black stars after 2 s), then `timeout: 0.5s` on reviews: about 1 s (productpage tries
    twice) and "Sorry, product reviews are currently unavailable for this book."."""
    net = "samples/bookinfo/networking"
    bookinfo.apply(f"{net}/destination-rule-all.yaml", f"{net}/virtual-service-all-v1.yaml")
    pilotfish_ok(bookinfo, "apply", "-f", "-", stdin=REVIEWS_V2)
    pilotfish_ok(bookinfo, "apply", "-f", "-", stdin=RATINGS_DELAY)
    body, seconds = _page(bookinfo)
    assert 'color="black"' in body and REVIEWS_ERROR not in body, body[-2000:]
    assert 2 <= seconds < 3.5, seconds
    pilotfish_ok(bookinfo, "apply", "-f", "-", stdin=REVIEWS_TIMEOUT)
    body, seconds = _page(bookinfo)
    assert REVIEWS_ERROR in body and 'color="black"' not in body, body[-2000:]
    assert 0.9 <= seconds < 1.8, seconds  # two tries of 0.5 s, not the 2 s delay


# The Mirroring page in its earlier form (still served for older releases), as a reader pastes
# it: every Deployment through `istioctl kube-inject -f - | kubectl create -f -`, the page's own
# `sleep` Deployment on the `tutum/curl` image, and the deprecated `mirrorPercent: 100`.
EARLIER_MIRRORING = """\
deploy() {{
cat <<EOF | istioctl kube-inject -f - | kubectl create -f -
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin-$1
spec:
  replicas: 1
  selector:
    matchLabels:
      app: httpbin
      version: $1
  template:
    metadata:
      labels:
        app: httpbin
        version: $1
    spec:
      containers:
      - image: docker.io/kennethreitz/httpbin
        imagePullPolicy: IfNotPresent
        name: httpbin
        command: ["gunicorn", "--access-logfile", "-", "-b", "0.0.0.0:80", "httpbin:app"]
        ports:
        - containerPort: 80
EOF
}}
deploy v1 && deploy v2
kubectl create -f - <<EOF
{service}EOF
cat <<EOF | istioctl kube-inject -f - | kubectl create -f -
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleep
spec:
  replicas: 1
  selector:
    matchLabels:
      app: sleep
  template:
    metadata:
      labels:
        app: sleep
    spec:
      containers:
      - name: sleep
        image: tutum/curl
        command: ["/bin/sleep","infinity"]
        imagePullPolicy: IfNotPresent
EOF
kubectl apply -f - <<EOF
{all_to_v1}EOF
export SLEEP_POD=$(kubectl get pod -l app=sleep -o jsonpath={{.items..metadata.name}})
kubectl exec "${{SLEEP_POD}}" -c sleep -- curl -sS http://httpbin:8000/headers
kubectl apply -f - <<EOF
{mirror}EOF
kubectl exec "${{SLEEP_POD}}" -c sleep -- curl -sS http://httpbin:8000/headers
"""


def test_the_mirroring_pages_earlier_form(mesh: LocalMesh) -> None:
    add_shims(mesh)
    mirror = MIRROR.replace(
        "    mirrorPercentage:\n      value: 100.0\n", "    mirrorPercent: 100\n"
    )
    page = sh(mesh, EARLIER_MIRRORING.format(service=SERVICE, all_to_v1=ALL_TO_V1, mirror=mirror))
    try:
        assert page.returncode == 0, page.stdout + page.stderr
        assert page.stdout.count('"Host": "httpbin:8000"') == 2, page.stdout
        assert 'deprecated setting "mirrorPercent", use "mirrorPercentage"' in page.stderr
        v1_pod, v2_pod = _pod(mesh, "app=httpbin,version=v1"), _pod(mesh, "app=httpbin,version=v2")
        mesh.wait_for(lambda: _headers_requests(mesh, v2_pod) == 1, what="the mirrored request")
        assert _headers_requests(mesh, v1_pod) == 2
        # a client that never called httpbin: its very first request is mirrored too, as in
        # Istio (on-demand clusters keep the clusters routes mirror to: before, it was lost)
        pilotfish_ok(mesh, "apply", "-f", f"{SAMPLES}/curl.yaml")
        first = ["exec", "deploy/curl", "--", "curl", "-sS", "http://httpbin:8000/headers"]
        assert '"Host": "httpbin:8000"' in pilotfish_ok(mesh, *first)
        mesh.wait_for(lambda: _headers_requests(mesh, v2_pod) == 2, what="the first, mirrored")
        assert _headers_requests(mesh, v1_pod) == 3
    finally:
        mesh.pilotfish("delete", "-f", f"{SAMPLES}/curl.yaml")
        sh(
            mesh,
            "kubectl delete virtualservice httpbin\nkubectl delete destinationrule httpbin\n"
            "kubectl delete deploy httpbin-v1 httpbin-v2 sleep\nkubectl delete svc httpbin\n",
        )
    assert pilotfish_ok(mesh, "get", "pods") == "", "no pod left"
