"""The local manifest: Kubernetes-shaped Services and pilotfish Workloads; field-path errors."""

from __future__ import annotations

from pilotfish import config
from pilotfish.registry.manifest import parse_manifest
from pilotfish.registry.types import Protocol, protocol_from_port

GOOD = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, labels: {app: reviews}}
spec:
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
  - {name: tcp-metrics, port: 9100, targetPort: 9101}
  - {name: web, port: 8443, appProtocol: https}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {name: reviews-v2, namespace: default, labels: {app: reviews, version: v2}}
spec:
  replicas: 2
  serviceAccount: bookinfo-reviews
  command: ["python", "reviews.py"]
  env: {STAR_COLOR: black}
  ports: [9080]
"""


def _parse(text: str, name: str = "/srv/mesh/m.yaml"):  # type: ignore[no-untyped-def]
    result = config.load(text, name)
    return parse_manifest(result.others)


def test_services_and_workloads() -> None:
    manifest, problems = _parse(GOOD)
    assert problems == []
    (svc,) = manifest.services
    assert svc.hostname == "reviews.default.svc.cluster.local"
    assert [(p.port, p.target_port, p.protocol) for p in svc.ports] == [
        (9080, 9080, Protocol.HTTP),
        (9100, 9101, Protocol.TCP),
        (8443, 8443, Protocol.HTTPS),
    ]
    (wl,) = manifest.workloads
    assert wl.instance_names() == ["reviews-v2-0", "reviews-v2-1"]
    assert wl.workdir == "/srv/mesh"
    assert dict(wl.env) == {"STAR_COLOR": "black"}
    assert svc.selects(dict(wl.labels))


def test_errors_name_the_field_and_line() -> None:
    bad = GOOD.replace("replicas: 2", "replicas: -1").replace("ports: [9080]", "ports: [15001]")
    manifest, problems = _parse(bad)
    assert manifest.workloads == ()
    texts = sorted(str(p) for p in problems)
    assert texts == [
        "/srv/mesh/m.yaml:15: Workload reviews-v2 at spec.replicas: "
        "must be an integer from 0 to 100",
        "/srv/mesh/m.yaml:19: Workload reviews-v2 at spec.ports: must be a list of ports "
        "1-65535, not [15000, 15001, 15002, 15006, 15020, 15021, 15090]",
    ]


def test_service_without_ports_is_an_error() -> None:
    _, problems = _parse("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {}\n")
    assert [p.path for p in problems] == ["spec.ports"]


def test_env_order_does_not_make_a_different_workload() -> None:
    # The control plane's store writes env back in its own order; a workload that compared
    # unequal after a control-plane restart had all its pods restarted (issue 15's soak).
    one, _ = _parse(GOOD.replace("env: {STAR_COLOR: black}", "env: {B: '1', A: '2'}"))
    two, _ = _parse(GOOD.replace("env: {STAR_COLOR: black}", "env: {A: '2', B: '1'}"))
    assert one.workloads == two.workloads


def test_istios_tcp_protocol_names_get_tcp_listeners() -> None:
    # Istio's protocol.Parse: mongo, redis and mysql are TCP to its listeners (IsTCP);
    # Bookinfo's mongodb Service names its port `mongo`
    for name in ("mongo", "redis-cache", "mysql", "tcp-db"):
        assert protocol_from_port(name) is Protocol.TCP, name
    assert protocol_from_port("postgres") is Protocol.UNKNOWN
