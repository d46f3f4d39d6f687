"""The whole `pilotfish analyze` on each of Istio's 103 analyzer test inputs (cases.json), compared
with the codes `istioctl analyze` reports on the same input with every analyzer of Istio's
`analyzers.All()`: the case's own expected codes, plus the codes other analyzers report there
(`also`), minus those of an analyzer istioctl skips offline (`not_offline`); the Istio rule
behind each difference is named in istio_analyzer_testdata/full_analyze.json.

An input with Pods, Services, Namespaces, Secrets or Nodes stands for a cluster holding them
(as Istio's analyzer tests read them, all namespaces, istioctl's default ingress gateway Pod and
Service added); an input with none is analysed as `istioctl analyze --use-kube=false -A` does:
the analyzers that read those kinds are skipped (`pilotfish.config.analyzers.offline`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.config.test_istio_analyzer_cases import CASES, run_case
from tests.config.test_istio_messages import check_wording

from pilotfish.cli.analyze import load_inputs
from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.analyzers.offline import has_cluster_objects

DATA = Path(__file__).parent / "istio_analyzer_testdata"
FULL: list[dict[str, Any]] = json.loads((DATA / "full_analyze.json").read_text())


def test_full_analyze_data_names_every_case() -> None:
    assert [(f["name"], f["files"]) for f in FULL] == [(c["name"], c["files"]) for c in CASES]
    for entry in FULL:
        for code, reason in [*entry["also"].items(), *entry.get("not_offline", {}).items()]:
            assert code.startswith("IST") and len(reason) > 40, (entry["name"], code)


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{c['name']}:{i}" for i, c in enumerate(CASES)]
)
def test_full_analyze_codes_are_istioctls(index: int) -> None:
    case, full = CASES[index], FULL[index]
    own = {code for code, _ in case["expected"]}
    assert not set(full["also"]) & own and set(full.get("not_offline", {})) <= own
    if full.get("not_offline"):  # skipped offline only when no cluster object is given
        inputs = load_inputs([str(DATA / f) for f in case["files"]])
        assert not has_cluster_objects(inputs.others)
    want = (own - set(full.get("not_offline", {}))) | set(full["also"])
    messages = run_case(case, cluster=None)
    check_wording(messages)
    assert {m.code for m in messages} == want, "\n".join(str(m) for m in messages)


GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {app: typo}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 81, name: http, protocol: HTTP}
    hosts: ["*"]
"""
POD = """---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {app: app}}
spec: {containers: [{name: app, image: app}]}
"""


def test_analyzers_reading_cluster_objects_run_only_with_a_cluster() -> None:
    """A Gateway whose selector matches no pod: IST0101 comes from analyzers reading Pods, which
    istioctl skips offline; the duplicate port name is a webhook rule, reported either way."""
    offline = {m.code for m in analyze(load(GATEWAY, "gw.yaml"))}
    assert offline == {"IST0106"}
    with_pods = {m.code for m in analyze(load(GATEWAY + POD, "gw.yaml"))}
    assert with_pods == {"IST0106", "IST0101"}
    assert {m.code for m in analyze(load(GATEWAY, "gw.yaml"), cluster=True)} == with_pods


def test_invalid_regex_is_ist0106_and_retired_codes_are_never_reported() -> None:
    """Istio retired IST0113 (MTLSPolicyConflict) and IST0122 (InvalidRegexp): an invalid regex
    is the webhook's error, IST0106."""
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [r]
  http:
  - match: [{uri: {regex: "(unclosed"}}]
    route: [{destination: {host: r}}]
"""
    codes = {m.code for m in analyze(load(text, "r.yaml"), cluster=True)}
    assert "IST0106" in codes and not codes & {"IST0113", "IST0122"}
