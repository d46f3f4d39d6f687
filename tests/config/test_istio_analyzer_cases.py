"""Istio's own analyzer test cases (istio/istio analyzers_test.go testGrid, inputs copied under
istio_analyzer_testdata/ with their origin and license): for each case, the messages pilotfish
reports with the codes of the case's analyzer are exactly Istio's expected (code, resource)
list, duplicates included (IST0101, which several of Istio's analyzers report, counts for the
analyzer that checks that kind of reference). Cases with a mesh config pass it as
`--meshConfigFile` does; mesh networks come in the `istio` ConfigMap, where istioctl reads them.
The cases marked `strict_difference` in cases.json agree on codes only (see the README there).
The harness reads the Kubernetes objects of the inputs and runs every analyzer (`cluster=True`),
where `istioctl analyze` offline would skip those reading them: test_istio_full_analyze checks
what `pilotfish analyze` itself reports."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.config.test_istio_messages import check_wording

from pilotfish.cli.analyze import load_inputs
from pilotfish.config.analyzers.analyze import AnalysisMessage, analyze
from pilotfish.config.analyzers.mesh_config import parse_mesh_yaml
from pilotfish.config.analyzers.messages import CLUSTER_SCOPED
from pilotfish.config.objects import Source
from pilotfish.config.yaml_text import RawDocument

DATA = Path(__file__).parent / "istio_analyzer_testdata"
CASES: list[dict[str, Any]] = json.loads((DATA / "cases.json").read_text())


def _origin(message: AnalysisMessage) -> str:
    """Istio's resource origin ("Kind namespace/name", "Kind name" when cluster-scoped)."""
    return message.origin


def _said_by(case: dict[str, Any], message: AnalysisMessage) -> bool:
    """Whether the case's analyzer reports this message: one of its codes, and for IST0101
    (which several analyzers report) one of the references it checks ("Referenced host ...")."""
    if message.code not in case["codes"]:
        return False
    what = message.message.removeprefix("Referenced ").split(" not found")[0]
    return message.code != "IST0101" or what in case["ist0101"]


def _namespaced(origin: str) -> str:
    """Istio prints a resource read without namespace as "Kind name": it is in default."""
    kind, _, name = origin.partition(" ")
    if "/" in name or kind in CLUSTER_SCOPED:
        return origin
    return f"{kind} default/{name}"


def run_case(case: dict[str, Any], cluster: bool | None = True) -> list[AnalysisMessage]:
    """The case analysed as Istio's test harness does (`cluster`: every analyzer runs, the
    input's Pods, Services, Namespaces and Secrets read), or with `cluster=None` as `pilotfish
    analyze` decides (istioctl's offline analysis when the input has no cluster objects)."""
    result = load_inputs([str(DATA / f) for f in case["files"]])
    if case["meshNetworksFile"]:
        path = DATA / case["meshNetworksFile"]
        data = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"meshNetworks": path.read_text()},
        }
        result.others.append(RawDocument(data, Source(str(path), 1)))
    mesh_config = None
    if case["meshConfigFile"]:
        path = DATA / case["meshConfigFile"]
        mesh_config = parse_mesh_yaml(path.read_text(), str(path))
    return analyze(result, mesh_config=mesh_config, cluster=cluster)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['analyzer']}:{c['name']}:{i}" for i, c in enumerate(CASES)]
)
def test_istio_analyzer_case(case: dict[str, Any]) -> None:
    messages = run_case(case)
    got = Counter((m.code, _origin(m)) for m in messages if _said_by(case, m))
    want = Counter((code, _namespaced(origin)) for code, origin in case["expected"])
    detail = "\n".join(str(m) for m in messages)
    check_wording(messages)
    if case["strict_difference"]:  # a known difference, named in cases.json: the codes agree
        assert set(got) and {c for c, _ in got} == {c for c, _ in want}, detail
        assert got != want, f"now conforming: drop strict_difference of {case['name']}"
        return
    assert got == want, detail
