"""Istio's ValidateWorkloadGroup (istio/istio pkg/config/validation/validation.go), its table
TestValidateWorkloadGroup ported case by case (valid or not), then each rule with Istio's
message and field path, as `validate` refuses it and `analyze` reports it (IST0106)."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.validation.webhook_workload_group import multierror

HEAD = "apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {name: w}\nspec:\n"

ISTIO_TABLE = [  # (Istio's case name, spec, valid)
    ("valid", "  template: {}\n", True),
    ("invalid", "  template: {}\n  metadata: {labels: {'.': '~'}}\n", False),
    ("probe missing method", "  template: {}\n  probe: {}\n", False),
    ("probe nil", "  template: {}\n  probe: {httpGet: null}\n", False),
    ("probe http empty", "  template: {}\n  probe: {httpGet: {}}\n", False),
    ("probe http valid", "  template: {}\n  probe: {httpGet: {port: 5}}\n", True),
    ("probe tcp invalid", "  template: {}\n  probe: {tcpSocket: {}}\n", False),
    ("probe tcp valid", "  template: {}\n  probe: {tcpSocket: {port: 5}}\n", True),
    ("probe exec invalid", "  template: {}\n  probe: {exec: {}}\n", False),
    ("probe exec valid", "  template: {}\n  probe: {exec: {command: [foo, bar]}}\n", True),
]


@pytest.mark.parametrize(
    ("spec", "valid"), [c[1:] for c in ISTIO_TABLE], ids=[c[0] for c in ISTIO_TABLE]
)
def test_istio_table(spec: str, valid: bool) -> None:
    assert load(HEAD + spec, "w.yaml").ok is valid


RULES = [
    ("  probe: {exec: {command: [a]}}\n", [("spec.template", "template is required")]),
    (
        "  template: {}\n  metadata: {labels: {'.': '~'}}\n  probe: {}\n",  # labels alone
        [
            (
                "spec.metadata.labels",
                "invalid labels: " + multierror(['invalid tag key: "."', 'invalid tag value: "~"']),
            )
        ],
    ),
    (
        "  template: {}\n  probe: {periodSeconds: 3}\n",
        [("spec.probe", "unknown health check method <nil>")],
    ),
    (
        "  template: {}\n  probe: {grpc: {port: 5}}\n",
        [("spec.probe", "unknown health check method *v1alpha3.ReadinessProbe_Grpc")],
    ),
    (
        "  template: {}\n  probe: {httpGet: {port: 70000, scheme: FTP}}\n",
        [
            ("spec.probe.httpGet.port", "port number 70000 must be in the range 1..65535"),
            ("spec.probe.httpGet.scheme", 'httpGet.scheme must be one of "HTTPS", "HTTP"'),
        ],
    ),
    (
        "  template: {}\n  probe:\n"
        "    httpGet: {port: 5, httpHeaders: [{name: x_y}, {name: ''}]}\n",
        [
            (
                "spec.probe.httpGet.httpHeaders[0].name",
                "header name x_y is not a valid header name",
            ),
            ("spec.probe.httpGet.httpHeaders[1].name", "header name cannot be empty"),
        ],
    ),
    (
        "  template: {}\n"
        "  probe: {exec: {command: [a]}, timeoutSeconds: -1, successThreshold: -1}\n",
        [
            ("spec.probe.timeoutSeconds", "timeoutSeconds must be non-negative"),
            ("spec.probe.successThreshold", "successThreshold must be non-negative"),
        ],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), RULES)
def test_rule(spec: str, expected: list[tuple[str, str]]) -> None:
    result = load(HEAD + spec, "w.yaml")
    webhook = [(d.path, d.message) for d in result.errors if d.webhook]
    assert webhook == expected
    # every error at a path the webhook names is the webhook's (the CRD's is not said twice)
    assert {d.path for d in result.errors} <= {path for path, _ in expected}
    codes = {(m.code, m.path) for m in analyze(result, cluster=False)}
    assert codes == {("IST0106", path) for path, _ in expected}


def test_the_template_is_not_checked_as_a_workload_entry() -> None:
    """Istio fills a group's template in; its webhook leaves address and labels alone."""
    spec = "  template: {address: 'not_a_host!', labels: {'.': x}}\n"
    assert load(HEAD + spec, "w.yaml").ok
