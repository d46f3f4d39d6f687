"""Golden tests: every case under testdata/ -> listeners/routes/clusters/endpoints YAML.

Regenerate with `UPDATE_GOLDENS=1 pytest tests/translate` (the root conftest may map a
`--update-goldens` flag onto that variable). Every snapshot must also pass the invariants.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from tests.translate.translate_harness import TESTDATA, golden_texts, load_case

from pilotfish.translate import check_invariants, generate
from pilotfish.type_urls import RESOURCE_TYPES

CASES = sorted(p for p in TESTDATA.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path) -> None:
    proxy, push = load_case(case)
    resources = generate(proxy, push)
    assert check_invariants(resources) == []
    mismatched = []
    for file_name, text in golden_texts(resources).items():
        golden = case / file_name
        if os.environ.get("UPDATE_GOLDENS") == "1":
            golden.write_text(text)
        elif not golden.exists() or golden.read_text() != text:
            mismatched.append(file_name)
    assert not mismatched, f"{case.name}: {mismatched} differ (UPDATE_GOLDENS=1 to regenerate)"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generation_ignores_input_order(case: Path) -> None:
    proxy, push = load_case(case)
    shuffled = replace(
        push,
        configs=tuple(reversed(push.configs)),
        registry=replace(
            push.registry,
            services=tuple(reversed(push.registry.services)),
            instances=tuple(reversed(push.registry.instances)),
            _by_host={},
        ),
    )
    first, second = generate(proxy, push), generate(proxy, shuffled)
    assert check_invariants(second) == []
    for type_url in RESOURCE_TYPES:
        assert list(first[type_url]) == sorted(first[type_url])
        assert first.version(type_url) == second.version(type_url)
