"""The YAML loader: Kubernetes' YAML 1.2 reading, line numbers, and bounded work."""

from __future__ import annotations

import time

from pilotfish.config.yaml_text import MAX_DEPTH, MAX_OBJECT_BYTES, parse_yaml


def test_yaml_1_2_scalars_stay_as_written() -> None:
    docs, problems = parse_yaml('a: yes\nb: on\nc: "1"\nd: 1\n1: x\ne: 1.5\nf: true\n', "f.yaml")
    assert problems == []
    assert docs[0].data == {"a": "yes", "b": "on", "c": "1", "d": 1, "1": "x", "e": 1.5, "f": True}
    assert type(docs[0].data["d"]) is int
    assert type(docs[0].data["e"]) is float


def test_multi_document_with_comments_and_lines() -> None:
    text = "# head\n---\nkind: A\nspec:\n  http:\n  - route:\n    - weight: 1\n    - weight: 2\n---\n\n---\nkind: B\n"  # noqa: E501
    docs, problems = parse_yaml(text, "m.yaml")
    assert problems == []
    assert [d.kind for d in docs] == ["A", "B"]
    assert docs[0].source.line == 3
    assert docs[1].source.line == 12
    assert docs[0].line_of("spec.http[0].route[1].weight") == 8
    assert docs[0].line_of("spec.http[0].route[1]") == 8
    assert docs[0].line_of("spec.http[0].route[1].nothing.here") == 8
    assert docs[0].line_of("nowhere") == 3


def test_syntax_error_is_a_diagnostic_with_line() -> None:
    docs, problems = parse_yaml("kind: A\n---\nkind: B\n  bad: [\n", "bad.yaml")
    assert [d.kind for d in docs] == ["A"]
    assert len(problems) == 1
    assert problems[0].level == "error"
    assert problems[0].source.file == "bad.yaml"
    assert problems[0].source.line >= 4
    assert problems[0].message.startswith("YAML syntax error")


def test_duplicate_keys_and_non_mapping_documents() -> None:
    _, problems = parse_yaml("a: 1\na: 2\n", "d.yaml")
    assert problems and problems[0].level == "error"
    docs, problems = parse_yaml("- 1\n- 2\n---\nkind: X\n", "s.yaml")
    assert [d.kind for d in docs] == ["X"]
    assert [p.message for p in problems] == ["document is not a mapping"]


def test_deep_nesting_is_rejected_quickly() -> None:
    started = time.process_time()  # CPU seconds: a loaded machine does not inflate them
    _, flow = parse_yaml("a: " + "[" * 100_000 + "]" * 100_000, "deep.yaml")
    block = "".join("  " * i + "k:\n" for i in range(MAX_DEPTH + 5))
    _, nested = parse_yaml(block, "deep2.yaml")
    assert time.process_time() - started < 5
    assert "nesting deeper" in flow[0].message
    assert "nesting deeper" in nested[0].message


def test_alias_bomb_is_bounded() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    started = time.process_time()  # CPU seconds (10^9 values if unbounded: hours)
    _, problems = parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert time.process_time() - started < 10
    assert problems and "too many values" in problems[0].message


def test_timestamps_become_text() -> None:
    docs, _ = parse_yaml("t: 2020-01-02\n", "t.yaml")
    assert docs[0].data == {"t": "2020-01-02"}


def test_an_object_over_kubernetes_1_5_mib_is_refused_naming_its_line() -> None:
    routes = "".join(f"  - {{match: [{{uri: {{exact: /p{i:07d}}}}}]}}\n" for i in range(40_000))
    big = f"kind: VirtualService\nmetadata: {{name: big}}\nspec:\n  http:\n{routes}"
    started = time.monotonic()
    docs, problems = parse_yaml("kind: A\n---\n" + big + "---\nkind: B\n", "big.yaml")
    assert time.monotonic() - started < 1  # refused before parsing, which is the cost
    assert docs == []  # rejected whole
    (problem,) = problems
    assert problem.source.line == 2
    assert f"at most {MAX_OBJECT_BYTES} bytes (1.5 MiB" in problem.message
    one_mib = "kind: A\na: " + "x" * (1 << 20) + "\n"
    docs, problems = parse_yaml(one_mib + "---\n" + one_mib, "ok.yaml")  # 2 MiB, 2 objects
    assert problems == [] and len(docs) == 2
