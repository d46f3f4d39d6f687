"""A container's livenessProbe and startupProbe as the API server takes them: each handler
(httpGet, tcpSocket, grpc, exec), the kubelet's defaults (periodSeconds 10, timeoutSeconds 1,
successThreshold 1, failureThreshold 3), Kubernetes' checks with their field paths, Istio's two
health-check samples unchanged, and the pod's `sidecar.istio.io/rewriteAppHTTPProbers`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.registry.test_kube_workloads import SOURCE, deployment, messages, only, parse

from pilotfish.registry.images import load_image_map
from pilotfish.registry.inputs import parse_documents
from pilotfish.registry.workloads import Probe, rewrites_probes

ISTIO = Path(__file__).resolve().parents[1] / "data" / "istio-samples"


def test_liveness_defaults_are_the_kubelets() -> None:
    probe = only(
        parse(deployment("        livenessProbe: {tcpSocket: {port: http}}\n"))[1]
    ).liveness
    assert probe == Probe("web", "tcp", 8080, endpoint="livez")
    assert (probe.period_seconds, probe.timeout_seconds) == (10, 1)
    assert (probe.success_threshold, probe.failure_threshold, probe.initial_delay_seconds) == (
        1, 3, 0)  # fmt: skip


def test_every_handler_of_liveness_and_startup() -> None:
    container = (
        "        livenessProbe:\n"
        "          httpGet: {path: healthz, port: 8080, scheme: HTTPS,"
        " httpHeaders: [{name: X-A, value: b}]}\n"
        "          initialDelaySeconds: 4\n"
        "          periodSeconds: 2\n"
        "          timeoutSeconds: 3\n"
        "          failureThreshold: 5\n"
        "        startupProbe:\n"
        "          grpc: {port: 8080, service: health}\n"
        "          failureThreshold: 30\n"
        "          periodSeconds: 0\n"  # 0 is unset: the default
    )
    workload = only(parse(deployment(container))[1])
    assert workload.liveness == Probe(
        "web", "http", 8080, path="/healthz", scheme="HTTPS", headers=(("X-A", "b"),),
        initial_delay_seconds=4, period_seconds=2, timeout_seconds=3, failure_threshold=5,
        endpoint="livez",
    )  # fmt: skip
    assert workload.startup == Probe(
        "web", "grpc", 8080, service="health", failure_threshold=30, endpoint="startupz"
    )
    command = "        livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 5}\n"
    exec_ = only(parse(deployment(command))[1]).liveness
    assert exec_ == Probe("web", "exec", command=("cat", "/tmp/healthy"), period_seconds=5,
                          endpoint="livez")  # fmt: skip
    assert exec_ is not None and not exec_.rewritable


@pytest.mark.parametrize(
    ("probe", "path", "message"),
    [
        ("{tcpSocket: {port: 8080}, successThreshold: 2}", "livenessProbe.successThreshold",
         "Invalid value: 2: must be 1"),
        ("{tcpSocket: {port: 8080}, periodSeconds: -1}", "livenessProbe.periodSeconds",
         "Invalid value: -1: must be greater than or equal to 0"),
        ("{periodSeconds: 5}", "livenessProbe", "Required value: must specify a handler type"),
        ("{exec: {command: [true]}, tcpSocket: {port: 8080}}", "livenessProbe",
         "Forbidden: may not specify more than 1 handler type"),
        ("{exec: {command: []}}", "livenessProbe.exec.command",
         "Required value: a list of strings"),
        ("{grpc: {port: http}}", "livenessProbe.grpc.port",
         "'http' is not one of the container's ports [8080]"),
        ("{tcpSocket: {port: 8080}, terminationGracePeriodSeconds: 0}",
         "livenessProbe.terminationGracePeriodSeconds", "Invalid value: 0: must be greater than 0"),
    ],
)  # fmt: skip
def test_bad_probes_name_file_line_and_field(probe: str, path: str, message: str) -> None:
    _, parsed = parse(deployment(f"        livenessProbe: {probe}\n"))
    assert messages(parsed) == [
        f"{SOURCE}:21: Deployment web at spec.template.spec.containers[0].{path}: {message}"
    ]


def test_termination_grace_periods_of_the_pod_and_of_a_probe() -> None:
    """The pod's terminationGracePeriodSeconds (30 s unset, not negative) and a liveness or
    startup probe's own (Kubernetes 1.25+): the grace of the kills they cause."""
    probe = "        livenessProbe: {tcpSocket: {port: 8080}, terminationGracePeriodSeconds: 4}\n"
    workload = only(parse(deployment(probe))[1])
    assert (workload.termination_grace, workload.liveness) == (
        30, Probe("web", "tcp", 8080, endpoint="livez", termination_grace=4))  # fmt: skip
    pod = "      serviceAccountName: web-sa\n"
    short = deployment().replace(pod, "      terminationGracePeriodSeconds: 0\n" + pod)
    assert only(parse(short)[1]).termination_grace == 0
    _, parsed = parse(deployment().replace(pod, "      terminationGracePeriodSeconds: -1\n" + pod))
    assert messages(parsed) == [
        f"{SOURCE}:15: Deployment web at spec.template.spec.terminationGracePeriodSeconds: "
        "Invalid value: -1: must be greater than or equal to 0"
    ]
    ready = "        readinessProbe: {tcpSocket: {port: 8080}, terminationGracePeriodSeconds: 5}\n"
    _, parsed = parse(deployment(ready))
    assert messages(parsed) == [
        f"{SOURCE}:21: Deployment web at spec.template.spec.containers[0].readinessProbe."
        "terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"
    ]


def test_startup_probe_success_threshold_must_be_one() -> None:
    _, parsed = parse(
        deployment("        startupProbe: {exec: {command: [x]}, successThreshold: 3}\n")
    )
    assert any("startupProbe.successThreshold: Invalid value: 3: must be 1" in m
               for m in messages(parsed))  # fmt: skip


def test_istios_health_check_samples_unchanged() -> None:
    found = {}
    for name in ("liveness-command.yaml", "liveness-http-same-port.yaml"):
        path = ISTIO / name
        _, parsed = parse_documents([(str(path), path.read_text())], images=load_image_map)
        assert parsed.ok and not parsed.diagnostics, [str(d) for d in parsed.diagnostics]
        (workload,) = parsed.manifest.workloads
        found[workload.name] = workload
    assert found["liveness"].liveness == Probe(
        "liveness", "exec", command=("cat", "/tmp/healthy"), initial_delay_seconds=5,
        period_seconds=5, endpoint="livez",
    )  # fmt: skip
    assert found["liveness-http"].liveness == Probe(
        "liveness-http", "http", 8001, path="/foo", initial_delay_seconds=5, period_seconds=5,
        endpoint="livez",
    )  # fmt: skip
    assert found["liveness-http"].rewrite_probes


def test_rewrite_annotation_as_istio_reads_it() -> None:
    key = "sidecar.istio.io/rewriteAppHTTPProbers"
    assert rewrites_probes({}) and rewrites_probes({key: "true"}) and rewrites_probes({key: "x"})
    assert not any(rewrites_probes({key: v}) for v in ("false", "False", "0", "f", "FALSE"))
    notes = '      annotations: {sidecar.istio.io/rewriteAppHTTPProbers: "false"}\n'
    assert only(parse(deployment("", notes))[1]).rewrite_probes is False


def test_grpc_and_exec_readiness_probes_are_run() -> None:
    grpc = "        readinessProbe: {grpc: {port: 8080}, periodSeconds: 2}\n"
    assert only(parse(deployment(grpc))[1]).readiness == Probe("web", "grpc", 8080,
                                                               period_seconds=2)  # fmt: skip
    exec_ = "        readinessProbe: {exec: {command: [cat, /tmp/ready]}}\n"
    _, parsed = parse(deployment(exec_))
    assert only(parsed).readiness == Probe("web", "exec", command=("cat", "/tmp/ready"))
    assert not messages(parsed, "warning")
