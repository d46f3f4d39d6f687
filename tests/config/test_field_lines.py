"""Every validation and analysis message names the file, the line of the offending field itself
(not the object's first line) and the field's path: at several depths, in block and flow style,
in list items, inside a `v1 List`, in a later document of a stream; for schema, webhook and CEL
rules, analyzers and translation's notes. The CLI tests run `pilotfish validate`, `apply` and
`analyze` as a user does and assert the exact line printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.meshctl import ROOT

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBBIN
    connectionPool:
      tcp:
        maxConnections: -1
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels:
      version: v2
    trafficPolicy:
      portLevelSettings:
      - port:
          number: 9080
        outlierDetection:
          maxEjectionPercent: 140
"""

ROUTE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  - "*.a.com"
  - "bad host"
  http:
  - match:
    - uri:
        prefix: /a
    route:
    - destination:
        host: reviews
        subset: v1
      weight: 50
    - destination: {host: reviews, subset: v2}
      weight: -5
    timeout: 5x
    retries:
      attempts: 3
      perTryTimeout: 1y
"""


def messages(text: str, source: str = "f.yaml") -> list[str]:
    return sorted(str(d) for d in load(text, source).diagnostics)


def test_schema_and_webhook_errors_name_the_field_line_at_every_depth() -> None:
    assert messages(RULE) == [
        "f.yaml:9: DestinationRule default/reviews at spec.trafficPolicy.loadBalancer.simple: "
        "unsupported value 'ROUND_ROBBIN': must be one of 'UNSPECIFIED', 'LEAST_CONN', 'RANDOM',"
        " 'PASSTHROUGH', 'ROUND_ROBIN' or 'LEAST_REQUEST'",
    ]  # a spec that does not parse is not checked further (nor is it by Istio)
    assert messages(RULE.replace("ROUND_ROBBIN", "ROUND_ROBIN")) == [
        "f.yaml:12: DestinationRule default/reviews at "
        "spec.trafficPolicy.connectionPool.tcp.maxConnections: "
        "max connections must be non-negative",
        "f.yaml:24: DestinationRule default/reviews at "
        "spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection.maxEjectionPercent: "
        "percentage 140 is out of range 0-100",
    ]


def test_list_items_and_flow_style_fields_have_their_own_lines() -> None:
    found = {d.path: d.source.line for d in load(ROUTE, "vs.yaml").diagnostics}
    assert found == {
        "spec.hosts[2]": 9,
        "spec.http[0].route[1].weight": 20,
        "spec.http[0].timeout": 21,
        "spec.http[0].retries.perTryTimeout": 24,
    }


def test_lines_count_from_the_start_of_the_stream_and_inside_a_list() -> None:
    stream = "# a comment\n---\n" + RULE.replace("ROUND_ROBBIN", "ROUND_ROBIN") + "---\n" + ROUTE
    found = {d.path: d.source.line for d in load(stream, "s.yaml").diagnostics}
    offset = 2 + RULE.count("\n") + 1
    assert found["spec.http[0].route[1].weight"] == 20 + offset
    assert found["spec.subsets[1].trafficPolicy.portLevelSettings[0].outlierDetection."
                 "maxEjectionPercent"] == 24 + 2  # fmt: skip
    indented = "".join(f"  {line}\n" if line else "\n" for line in ROUTE.splitlines())
    listed = "apiVersion: v1\nkind: List\nitems:\n-" + indented[1:]
    weight = [d for d in load(listed, "l.yaml").diagnostics if d.path.endswith("weight")]
    assert [str(d) for d in weight] == [
        "l.yaml:23: VirtualService default/reviews at spec.http[0].route[1].weight: weight -5 < 0"
    ]


def test_a_missing_field_points_at_its_nearest_parent() -> None:
    text = ROUTE.split("  http:")[0] + "  http:\n  - route:\n    - weight: 10\n"
    (error,) = [d for d in load(text, "m.yaml").diagnostics if "destination" in d.path]
    assert (error.path, error.source.line) == ("spec.http[0].route[0].destination", 12)


def test_analyzer_messages_carry_the_field_line_and_path() -> None:
    text = (
        ROUTE.replace('  - "bad host"\n', "")
        .replace("weight: -5", "weight: 50")
        .replace("5x", "5s")
        .replace("1y", "1s")
        .replace("  http:", "  gateways:\n  - missing-gw\n  http:")
    )
    result = load(text, "a.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    found = [(m.code, m.source.line, m.path, m.message) for m in analyze(result, cluster=True)]
    destination = "spec.http[0].route[{}].destination.host"
    assert found == [
        ("IST0101", 17, destination.format(0), 'Referenced host not found: "reviews"'),
        ("IST0101", 17, destination.format(0),
         'Referenced host+subset in destinationrule not found: "reviews+v1"'),
        ("IST0101", 20, destination.format(1), 'Referenced host not found: "reviews"'),
        ("IST0101", 20, destination.format(1),
         'Referenced host+subset in destinationrule not found: "reviews+v2"'),
        ("IST0101", 10, "spec.gateways[0]", 'Referenced gateway not found: "missing-gw"'),
        ("IST0132", 10, "spec.gateways[0]", "one or more host [reviews *.a.com] defined in "
         "VirtualService default/reviews not found in Gateway default/missing-gw."),
    ]  # fmt: skip


def test_schema_errors_in_analyze_are_istios_text_at_the_fields_line() -> None:
    """IST0106 is Istio's template with Istio's validation error alone (`Schema validation
    error: max connections must be non-negative`): no field path in front; the origin's line is
    the field's."""
    text = RULE.split("  subsets:")[0].replace("ROUND_ROBBIN", "ROUND_ROBIN")
    found = [m for m in analyze(load(text, "r.yaml")) if m.code == "IST0106"]
    assert [str(m) for m in found] == [
        "Error [IST0106] (DestinationRule default/reviews r.yaml:12) Schema validation error: "
        "max connections must be non-negative"
    ]
    assert found[0].path == "spec.trafficPolicy.connectionPool.tcp.maxConnections"


def pilotfish(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PILOTFISH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.mark.parametrize("command", [("validate", "-f"), ("apply", "-f")])
def test_cli_names_the_line_of_the_bad_field(tmp_path: Path, command: tuple[str, str]) -> None:
    bad = tmp_path / "vs.yaml"
    bad.write_text(ROUTE.replace('  - "bad host"\n', "").replace("5x", "5s").replace("1y", "1s"))
    run = pilotfish(tmp_path / "home", *command, str(bad))
    assert run.returncode == 1
    assert (
        f"error: {bad}:19: VirtualService default/reviews at spec.http[0].route[1].weight: "
        "weight -5 < 0"
    ) in (run.stdout + run.stderr).splitlines(), run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_cli_analyze_names_the_line_of_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "vs.yaml"
    bad.write_text(ROUTE.replace('  - "bad host"\n', "").replace("5x", "5s").replace("1y", "1s"))
    run = pilotfish(tmp_path / "home", "analyze", "-f", str(bad))
    assert run.returncode == 79
    lines = run.stdout.splitlines()
    assert (
        f"Error [IST0106] (VirtualService default/reviews {bad}:19) Schema validation error: "
        "weight -5 < 0"
    ) in lines
    assert (  # the subset reference (the host one needs a cluster's Services: offline it is not)
        f"Error [IST0101] (VirtualService default/reviews {bad}:15) Referenced host+subset in "
        'destinationrule not found: "reviews+v1"'
    ) in lines


def test_schema_warnings_in_analyze_are_istios_text_alone() -> None:
    """IST0133's template is `Schema validation warning: %v`: Istio's warning, with no field path
    in front (the origin names the field's line)."""
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\n"
        "spec:\n  host: reviews\n  workloadSelector: {}\n"
    )
    found = [str(m) for m in analyze(load(text, "w.yaml")) if m.code == "IST0133"]
    assert found == [
        "Warning [IST0133] (DestinationRule default/reviews w.yaml:7) Schema validation warning: "
        "workload selector specified without labels"
    ]
