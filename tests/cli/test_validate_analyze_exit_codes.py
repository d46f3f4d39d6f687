"""`validate_command` and `analyze_command` as the `pilotfish` CLI calls them: output and exit
codes, over real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.yaml_docs import REVIEWS_RULE, virtual_service

from pilotfish.cli.analyze import analyze_command
from pilotfish.cli.validate import validate_command

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {ports: [{port: 9080, name: http}]}
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-0, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews}, {name: istio-proxy, image: proxyv2}]}
"""  # the pod subset v1 selects (Istio's IST0173 reads Pods only)
GOOD = "---\n".join((SERVICE, REVIEWS_RULE, virtual_service("reviews", "reviews", "v1")))


def test_validate_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    assert validate_command([str(tmp_path)]) == 0
    assert capsys.readouterr().out == "validation succeeded: 3 document(s) checked\n"


def test_validate_invalid_and_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("subset: v1}", "subset: v1}\n      weight: -5\n      extra: 1"))
    assert validate_command([str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f'warning: {bad}:23: VirtualService default/reviews at spec.http[0].route[0].extra: unknown field "extra"',  # noqa: E501
        f"error: {bad}:22: VirtualService default/reviews at spec.http[0].route[0].weight: weight -5 < 0",  # noqa: E501
        "validation failed: 1 error(s)",
    ]
    extra_only = tmp_path / "extra.yaml"
    extra_only.write_text(GOOD.replace("subset: v1}", "subset: v1}\n      extra: 1"))
    assert validate_command([str(extra_only)]) == 0
    capsys.readouterr()
    assert validate_command([str(extra_only)], strict=True) == 1


def test_analyze_clean_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD + "---\n" + POD)
    assert analyze_command([str(tmp_path)]) == 0
    captured = capsys.readouterr()  # istioctl: an empty line on stdout, the verdict on stderr
    assert captured.out == "\n"
    good = tmp_path / "good.yaml"
    assert captured.err == f"\u2714 No validation issues found when analyzing {good}.\n"


def test_analyze_reports_missing_host_subset_and_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        GOOD.replace("destination: {host: reviews, subset: v1}", "destination: {host: reviews2}")
        + "  gateways: [bookinfo-gateway]\n---\n"
        + virtual_service("r2", "reviews", "v9")
        + "---\n"
        + POD
    )
    assert analyze_command([str(path)]) == 79
    assert capsys.readouterr().out.splitlines() == [  # istioctl's order: level, code, resource
        f'Error [IST0101] (VirtualService default/r2 {path}:31) Referenced host+subset in destinationrule not found: "reviews+v9"',  # noqa: E501
        f'Error [IST0101] (VirtualService default/reviews {path}:21) Referenced host not found: "reviews2"',  # noqa: E501
        f'Error [IST0101] (VirtualService default/reviews {path}:22) Referenced gateway not found: "bookinfo-gateway"',  # noqa: E501
        f"Warning [IST0132] (VirtualService default/reviews {path}:22) one or more host [reviews] defined in VirtualService default/reviews not found in Gateway default/bookinfo-gateway.",  # noqa: E501
    ]
    assert analyze_command([str(path)], failure_threshold="Error", output_threshold="Error") == 79


def test_analyze_schema_errors_conflicts_and_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    second = GOOD.split("---\n")[2].replace("name: reviews}", "name: reviews-b}")
    se = (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\n"
        "spec: {hosts: [db.example.com], ports: [{number: 5432, name: tcp, protocol: TCP}], "
        "resolution: DNS}\n"
    )
    path.write_text(GOOD + "---\n" + second + "---\n" + se + "---\n" + POD)
    assert analyze_command([str(path)], failure_threshold="Error") == 79
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in out] == [
        "Error [IST0109]",
        "Error [IST0109]",
        "Warning [IST0134]",
    ]
    assert out[2].endswith("ServiceEntry addresses are required for this protocol.")
    assert analyze_command([str(path)], output_threshold="Error", failure_threshold="Error") == 79
    assert "IST0134" not in capsys.readouterr().out
    path.write_text(GOOD + "---\n" + se + "---\n" + POD)
    assert analyze_command([str(path)], failure_threshold="Error") == 0
    assert analyze_command([str(path)], failure_threshold="Warning") == 79
    capsys.readouterr()
    path.write_text(GOOD.replace("host: reviews\n", "host: 'a*b'\n"))
    assert analyze_command([str(path)]) == 79
    assert (
        f"Error [IST0106] (DestinationRule default/reviews {path}:10) Schema validation error: "
        in capsys.readouterr().out
    )


def test_analyze_reports_istios_webhook_rules_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """istioctl analyze runs Istio's webhook rules (IST0106), never the CRD's OpenAPI or CEL
    rules an API server applies; a spec its protobuf JSON reader refuses is a file that could
    not be parsed (exit 65), not a message."""
    many = "\n".join("  - {}" for _ in range(513))
    crd_only = tmp_path / "crd_only.yaml"
    crd_only.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata: {{name: a, namespace: default}}\nspec:\n  rules:\n{many}\n"
    )
    assert validate_command([str(crd_only)]) == 1  # the API server's maxItems: 512
    capsys.readouterr()
    assert analyze_command([str(crd_only)], use_kube=False) == 0
    assert capsys.readouterr().out == "\n"
    webhook = tmp_path / "webhook.yaml"
    webhook.write_text(crd_only.read_text().replace(many, "  - {from: [{source: {}}]}"))
    assert analyze_command([str(webhook)], use_kube=False) == 79
    assert "Error [IST0106] (AuthorizationPolicy default/a " in capsys.readouterr().out
    unread = tmp_path / "unread.yaml"
    unread.write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n"
        "  servers: [{port: {number: eighty, name: http, protocol: HTTP}, hosts: ['*']}]\n"
    )
    assert analyze_command([str(unread)], use_kube=False) == 65
    captured = capsys.readouterr()
    assert "IST0106" not in captured.out
    assert "Error(s) adding files: " in captured.err
    assert "must be an integer, got string" in captured.err


OPEN_MODE = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: MODE}
"""


def test_an_enum_number_naming_no_value_is_read_as_istioctl_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tls: {mode: 7}`: istioctl's protobuf JSON reader keeps 7 (proto3 enums are open) and
    Istio's DestinationRule rules say nothing of it: `validate` and `analyze` accept it. A name
    that is no value is refused, as jsonpb refuses it."""
    number = tmp_path / "number.yaml"
    number.write_text(OPEN_MODE.replace("MODE", "7"))
    assert validate_command([str(number)]) == 0
    assert "validation succeeded" in capsys.readouterr().out
    assert analyze_command([str(number)]) == 0
    assert "No validation issues found" in capsys.readouterr().err
    name = tmp_path / "name.yaml"
    name.write_text(OPEN_MODE.replace("MODE", "SEVEN"))
    assert validate_command([str(name)]) == 1
    assert (
        f"{name}:7: DestinationRule default/reviews at spec.trafficPolicy.tls.mode: unsupported "
        "value 'SEVEN'"
    ) in capsys.readouterr().out
