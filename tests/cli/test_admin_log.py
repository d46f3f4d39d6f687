"""`pilotfish admin log`'s pieces: istioctl's `<scope>:<level>` pairs, the updates each flag
sends, and its table/JSON/YAML listing."""

from __future__ import annotations

import json

import pytest

from pilotfish.cli.admin_log import LogOptions, pairs, render, updates
from pilotfish.cli.errors import UserError

LISTED = [
    {"name": "default", "description": "Unscoped logging messages.", "output_level": "info",
     "stack_trace_level": "none"},
    {"name": "ads", "description": "ads debugging", "output_level": "debug",
     "stack_trace_level": "none"},
]  # fmt: skip


def test_pairs_are_istioctls_and_wrong_ones_are_named() -> None:
    assert pairs("ads:debug,authorization:none") == [("ads", "debug"), ("authorization", "none")]
    for wrong in ("ads", "ads:verbose", "ads:debug,", "ads:debugx", ":debug"):
        with pytest.raises(UserError, match="did not match"):
            pairs(wrong)


def test_updates_for_each_flag() -> None:
    names = ["ads", "default"]
    assert updates(LogOptions(), names) == []
    assert updates(LogOptions(level="ads:debug", stack_trace_level="ca:error"), names) == [
        {"name": "ads", "output_level": "debug"},
        {"name": "ca", "stack_trace_level": "error"},
    ]
    both = [{"name": n, "output_level": "info", "stack_trace_level": "none"} for n in names]
    assert updates(LogOptions(reset=True), names) == both
    assert updates(LogOptions(log_reset=True, stack_trace_reset=True), names) == both
    assert updates(LogOptions(log_reset=True), names) == [
        {"name": n, "output_level": "info"} for n in names
    ]


def test_listing_as_istioctl_prints_it() -> None:
    lines = render(LISTED, "short").splitlines()
    assert lines[0].split("   ")[:2] == ["ACTIVE SCOPE", "DESCRIPTION"]
    assert lines[1].split() == ["ads", "ads", "debugging", "debug", "none"]
    assert lines[2].startswith("default        Unscoped logging messages.   info ")
    shown = json.loads(render(LISTED, "json"))
    assert shown[0] == {"scope_name": "ads", "log_level": "debug", "stack_trace_level": "none",
                        "description": "ads debugging"}  # fmt: skip
    assert render(LISTED, "yaml").startswith("- description: ads debugging\n  log_level: debug\n")
    with pytest.raises(UserError, match='output format "wide" not supported'):
        render(LISTED, "wide")
