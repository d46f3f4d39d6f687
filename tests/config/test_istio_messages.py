"""Every message `pilotfish analyze` prints is one of Istio's message types, with its level and
its template filled (istio/istio pkg/config/analysis/msg/messages.yaml: the code, name, level
and template of each entry, copied as data into istio_analyzer_testdata/messages.json).

`check_wording(messages)` is called on every message reported on Istio's 103 analyzer test
inputs (test_istio_analyzer_cases, as Istio's harness reads them; test_istio_full_analyze, as
`pilotfish analyze` does) and here on this repository's samples. pilotfish's own codes (PF...)
are outside Istio's table and never take an IST code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pilotfish.cli.analyze import load_inputs
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.analyzers.messages import AnalysisMessage

DATA = Path(__file__).parent / "istio_analyzer_testdata"
TABLE: dict[str, dict[str, Any]] = {
    row["code"]: row for row in json.loads((DATA / "messages.json").read_text())
}
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
VERBS = {"%s": ".*", "%v": ".*", "%q": '"(?:[^"\\\\]|\\\\.)*"', "%d": "-?[0-9]+"}


@cache
def pattern(code: str) -> re.Pattern[str]:
    """The template of `code` as a regular expression (each verb standing for what Go's fmt
    prints for it)."""
    parts = re.split(r"(%[sqvd])", TABLE[code]["template"])
    return re.compile("".join(VERBS.get(p, re.escape(p)) for p in parts), re.DOTALL)


def check_wording(messages: Iterable[AnalysisMessage]) -> None:
    """Each message has an Istio code (or a PF code of pilotfish's own), Istio's level for it,
    and a text that fills Istio's template."""
    for message in messages:
        if message.code.startswith("PF"):
            assert message.code not in TABLE
            continue
        row = TABLE.get(message.code)
        assert row is not None, f"{message.code} is not an Istio message code: {message}"
        assert message.severity == row["level"], str(message)
        assert pattern(message.code).fullmatch(message.message), (
            f"{message}\n  does not fill Istio's template: {row['template']}"
        )


def test_table_is_istios() -> None:
    assert len(TABLE) == 68
    assert TABLE["IST0101"] == {
        "code": "IST0101",
        "name": "ReferencedResourceNotFound",
        "level": "Error",
        "template": "Referenced %s not found: %q",
    }
    assert {row["level"] for row in TABLE.values()} == {"Error", "Warning", "Info"}
    assert pattern("IST0101").fullmatch('Referenced host not found: "a \\"b\\""')
    assert not pattern("IST0101").fullmatch("Referenced host not found: a")
    assert pattern("IST0162").fullmatch(
        "The gateway is listening on a target port (port 8080) that is not defined in the "
        "Service associated with its workload instances (Pod selector istio=ingressgateway). If "
        "you need to access the gateway port through the gateway Service, it will not be "
        "available."
    )


def test_messages_on_the_samples() -> None:
    samples = sorted(str(p) for p in SAMPLES.rglob("*.yaml"))
    messages = analyze(load_inputs(samples))
    assert messages  # the samples do give some (e.g. IST0173 for Bookinfo's mysql subsets)
    check_wording(messages)
