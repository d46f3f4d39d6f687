"""Property test of the loader and validators: arbitrary text or arbitrary documents of every
Istio kind never crash or hang; they only yield well-formed Diagnostics."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotfish.config import load
from pilotfish.config.kinds import ISTIO_KINDS
from pilotfish.config.objects import Diagnostic

KEYS = st.sampled_from(
    [
        "hosts",
        "http",
        "route",
        "destination",
        "host",
        "weight",
        "subsets",
        "name",
        "match",
        "uri",
        "regex",
        "exact",
        "servers",
        "port",
        "number",
        "tls",
        "mode",
        "timeout",
        "labels",
        "rules",
        "from",
        "to",
        "selector",
        "mtls",
        "jwtRules",
        "endpoints",
        "x",
        "",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["1s", "0s", "(?=x)", "*.a.com", "a*b", "v1", "-1"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=30,
)


def _check(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.level in ("error", "warning", "info")
        assert d.message
        assert str(d)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _check(load(text, "fuzz.yaml").diagnostics)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ISTIO_KINDS)), VALUES)
def test_arbitrary_specs(kind: str, spec: Any) -> None:
    import json

    info = ISTIO_KINDS[kind]
    text = json.dumps(
        {
            "apiVersion": f"{info.group}/{info.versions[0]}",
            "kind": kind,
            "metadata": {"name": "x"},
            "spec": spec,
        }
    )
    result = load(text, "fuzz.yaml")
    _check(result.diagnostics)
    assert result.ok == (len(result.objects) == 1)
