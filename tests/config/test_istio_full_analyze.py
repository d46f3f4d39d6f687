"""The whole `pilotfish analyze` on each of Istio's 103 analyzer test inputs (cases.json), compared
with the codes `istioctl analyze` reports on the same input with every analyzer: the case's own
expected codes plus, per case, the codes other analyzers of Istio's `analyzers.All()` report
there (istio_analyzer_testdata/full_analyze.json, with the Istio rule behind each extra code).

The reference setting is Istio's analyzer test harness with all analyzers combined: every input
kind read from the files (Pods, Services, Namespaces and Secrets too), all namespaces, the
default ingress gateway Pod and Service istioctl adds offline, and the default mesh config
unless the case gives one. (`istioctl analyze --use-kube=false` itself skips Pods, Services,
Namespaces, Nodes and Secrets in files since Istio 1.18, and shows only the `default` namespace
without `-A`; pilotfish reads them, as the harness and the analyzers' own tests do.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.config.test_istio_analyzer_cases import CASES, run_case

DATA = Path(__file__).parent / "istio_analyzer_testdata"
FULL: list[dict[str, Any]] = json.loads((DATA / "full_analyze.json").read_text())


def test_full_analyze_data_names_every_case() -> None:
    assert [(f["name"], f["files"]) for f in FULL] == [(c["name"], c["files"]) for c in CASES]
    for entry in FULL:
        for code, reason in entry["also"].items():
            assert code.startswith("IST") and len(reason) > 40, (entry["name"], code)


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{c['name']}:{i}" for i, c in enumerate(CASES)]
)
def test_full_analyze_codes_are_istioctls(index: int) -> None:
    case, full = CASES[index], FULL[index]
    messages = run_case(case)
    want = {code for code, _ in case["expected"]} | set(full["also"])
    assert not set(full["also"]) & {code for code, _ in case["expected"]}
    assert {m.code for m in messages} == want, "\n".join(str(m) for m in messages)
