"""`registry.host_ports`: in the shared mode, a sidecar's pod of several containers listens on
the host's 127.0.0.1 at its container ports, so apply refuses a second such pod (or replica) on
one of them, naming file, line and field; other pods listen elsewhere and are not counted."""

from __future__ import annotations

from pilotfish.registry.host_ports import listens_on_host
from pilotfish.registry.inputs import parse_documents

PAIR = """apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}ANNOTATIONS}
    spec:
      containers:
      - name: web
        image: docker.io/kong/httpbin
        ports: [{containerPort: 8084}]
      - name: helper
        image: docker.io/kong/httpbin
        ports: [{containerPort: 8085}]
"""
NO_SIDECAR = ', annotations: {sidecar.istio.io/inject: "false"}'


def _pair(name: str = "pair", replicas: int = 1, annotations: str = "") -> str:
    return (
        PAIR.replace("NAME", name)
        .replace("REPLICAS", str(replicas))
        .replace("ANNOTATIONS", annotations)
    )


def _errors(text: str, running: str | None = None, shared: bool = True) -> list[str]:
    workloads = parse_documents([("r.yaml", running)])[1].manifest.workloads if running else ()
    _, parsed = parse_documents([("a.yaml", text)], sharing_host=workloads if shared else None)
    return [
        f"{d.source.line}: {d.path}: {d.message.split(' (')[0]}"
        for d in parsed.diagnostics
        if d.level == "error"
    ]


def test_replicas_of_a_pod_of_several_containers_are_refused() -> None:
    assert _errors(_pair(replicas=2)) == [
        "13: spec.template.spec.containers[0].ports[0].containerPort: 8084: its 2 replicas "
        "would each listen on the host's 127.0.0.1:8084",
        "16: spec.template.spec.containers[1].ports[0].containerPort: 8085: its 2 replicas "
        "would each listen on the host's 127.0.0.1:8085",
    ]
    assert _errors(_pair(replicas=1)) == []
    assert _errors(_pair(replicas=2), shared=False) == []  # the isolated mode: no limit


def test_a_second_pod_on_a_taken_port_is_refused_and_the_same_one_reapplied_is_not() -> None:
    other = _pair("other").replace("8085", "8090")
    assert _errors(other, running=_pair()) == [
        "13: spec.template.spec.containers[0].ports[0].containerPort: 8084 is taken on the "
        "host's 127.0.0.1 by Deployment default/pair"
    ]
    assert _errors(_pair(), running=_pair()) == []  # it replaces itself
    assert _errors(_pair("other").replace("8084", "8091").replace("8085", "8092"), _pair()) == []
    # in one apply too: the second document's pod
    assert len(_errors(_pair() + "---\n" + other)) == 1


def test_pods_that_listen_elsewhere_are_not_counted() -> None:
    # without a sidecar, a pod listens on its own address (127.A.x.y); one container with a
    # sidecar listens at a port of the mesh's range
    alone = _pair(replicas=2, annotations=NO_SIDECAR)
    assert _errors(alone) == []
    assert _errors(_pair("other"), running=alone) == []
    single = "\n".join(PAIR.splitlines()[:13]).replace("NAME", "one").replace("REPLICAS", "2")
    assert _errors(single.replace("ANNOTATIONS", "") + "\n") == []
    workloads = parse_documents([("a.yaml", _pair() + "---\n" + alone.replace("pair", "x"))])[1]
    assert [listens_on_host(w) for w in workloads.manifest.workloads] == [True, False]
