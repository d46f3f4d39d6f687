"""`config.yaml_shapes`: a document of a shape seen before is made from that shape, and what
comes out is exactly what the round-trip parser gives the whole stream (data, the line of
every field path, the document's line, errors) — for every YAML file of the repository, parsed
cold and then from its shapes, and for the same files with the values of their simple lines
replaced by other words and numbers (some of which YAML reads otherwise, or that break the
document)."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from pilotfish.config import yaml_shapes, yaml_text
from pilotfish.config.load import load
from pilotfish.config.objects import Diagnostic

ROOT = Path(__file__).resolve().parents[2]
_ALL = sorted(p for d in ("samples", "tests") for p in (ROOT / d).rglob("*.y*ml") if p.is_file())
# The translation goldens are 70 % of the bytes and ~100 files of a few shapes (Envoy's config,
# which nobody applies); every fourth of them keeps those shapes in, at a third of the time.
_GOLDEN = [p for p in _ALL if p.name.endswith(".golden.yaml")]
FILES = [p for p in _ALL if not p.name.endswith(".golden.yaml")] + _GOLDEN[::4]
VALUES = ("x1", "12", "0", "True", "1.5", "yes", "a-b.c", "_x", "007", "null", "9" * 20, "v2")
_VALUE = re.compile(r"^(\s*(?:- )?(?:[A-Za-z_][A-Za-z0-9_.-]*: )?)([A-Za-z0-9_.-]+)$", re.M)


def _replaced(value: str, match: re.Match[str]) -> str:
    return match.group(1) + value


def _whole(text: str, source: str) -> tuple[list[object], list[str]]:
    found = yaml_text._parse_stream(text, source, yaml_text._Converter(yaml_text.MAX_NODES))
    return _seen(found)


def _seen(
    found: tuple[list[yaml_text.RawDocument], list[Diagnostic]],
) -> tuple[list[object], list[str]]:
    return [(d.data, d.source, d.lines) for d in found[0]], [str(p) for p in found[1]]


@pytest.fixture(autouse=True)
def _roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_shapes, "SHAPES", yaml_shapes.Shapes())
    monkeypatch.setattr(yaml_shapes, "MAX_SHAPES", 100_000)


def test_every_file_parses_as_the_whole_stream_cold_and_from_its_shapes() -> None:
    assert len(FILES) > 100
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        expected = _whole(text, str(path))
        for _ in range(2):  # the second time, every shape is known
            assert _seen(yaml_text.parse_yaml(text, str(path))) == expected, path
    shapes = yaml_shapes.SHAPES._found.values()
    assert sum(1 for s in shapes if isinstance(s, yaml_shapes.Shape)) > 100


def test_other_values_in_known_shapes_parse_as_the_whole_stream() -> None:
    checked = 0
    for index, path in enumerate(FILES):
        text = path.read_text(encoding="utf-8")
        yaml_text.parse_yaml(text, str(path))  # its shapes known
        value = VALUES[index % len(VALUES)]
        changed = _VALUE.sub(partial(_replaced, value), text)
        if changed == text:
            continue
        checked += 1
        assert _seen(yaml_text.parse_yaml(changed, str(path))) == _whole(changed, str(path)), (
            path,
            value,
        )
    assert checked > 100


def test_a_stream_of_one_shape_is_parsed_once_and_errors_still_name_the_line() -> None:
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata:\n  name: r{n}\n  namespace: ns-{n}\n"
        "spec:\n  host: s{n}\n  trafficPolicy:\n    connectionPool:\n      http:\n"
        "        http1MaxPendingRequests: {n}\n"
    )
    text = "---\n".join(rule.format(n=n) for n in range(50))
    docs, problems = yaml_text.parse_yaml(text, "dr.yaml")
    assert problems == [] and [d.data["metadata"]["name"] for d in docs] == [
        f"r{n}" for n in range(50)
    ]
    assert docs[7].line_of("spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests") == (
        7 * 12 + 11
    )
    shapes = [s for s in yaml_shapes.SHAPES._found.values() if isinstance(s, yaml_shapes.Shape)]
    assert len(shapes) == 1
    docs[0].data["metadata"]["name"] = "changed"  # a document is the caller's to change
    again, _ = yaml_text.parse_yaml(text, "dr.yaml")
    assert again[0].data["metadata"]["name"] == "r0"
    broken = text.replace("  host: s9\n", "  host: s9\n  host: t9\n")  # a duplicate key
    assert _seen(yaml_text.parse_yaml(broken, "dr.yaml")) == _whole(broken, "dr.yaml")
    assert "dr.yaml:" in yaml_text.parse_yaml(broken, "dr.yaml")[1][0].source.file + ":"


def test_documents_are_written_as_the_emitter_writes_them_cold_and_from_their_shapes() -> None:
    """`dump_yaml` of one document (what the store writes) is the emitter's text, whether made
    by it or from a shape seen before: every document of the files above, then the same with
    other words and numbers in them."""
    monkey = yaml_shapes.DumpShapes()
    written = 0
    for index, path in enumerate(FILES[::3]):
        text = path.read_text(encoding="utf-8")
        value = VALUES[index % len(VALUES)]
        changed = _VALUE.sub(partial(_replaced, value), text)
        for source in (text, text, changed):
            docs, problems = yaml_text.parse_yaml(source, str(path))
            for doc in docs if not problems else ():
                made = monkey.dumped(doc.data, yaml_text._dump_one)
                assert made == yaml_text._dump([doc.data]), (path, value)
                written += 1
    assert written > 300
    kept = [t for t in monkey._found.values() if t is not None]
    assert len(kept) > 50


def test_bad_documents_among_many_of_their_shape_are_reported_at_their_line_and_field() -> None:
    """An apply of 300 rules of one shape with a bad duration in one and an unknown field in
    another: each is reported at its own file line and field path, with the message the same
    document gets alone, and only the bad one is rejected."""
    rule = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata:\n  name: r{n}\n  namespace: ns-{n}\n"
        "spec:\n  host: s{n}\n  trafficPolicy:\n    connectionPool:\n      http:\n"
        "        idleTimeout: {t}\n        http1MaxPendingRequests: {n}\n"
    )
    docs = [rule.format(n=n, t="5s") for n in range(300)]
    docs[123] = rule.format(n=123, t="5x")
    docs[200] = docs[200].replace("http1MaxPendingRequests", "http1MaxPending")
    result = load("---\n".join(docs), "dr.yaml")
    assert [o.meta.name for o in result.rejected] == ["r123"]
    assert len(result.objects) == 299
    found = [(str(d), d.level, d.path) for d in result.diagnostics]
    alone = [load(docs[n], "dr.yaml").diagnostics for n in (123, 200)]
    assert [len(a) for a in alone] == [1, 1]
    expected = []
    for n, (d,) in zip((123, 200), alone, strict=True):  # its line in the stream: 13 per rule
        where = f"dr.yaml:{13 * n + d.source.line}:"
        expected.append((str(d).replace(f"dr.yaml:{d.source.line}:", where, 1), d.level, d.path))
    assert found == expected
    assert found[0][0].startswith(
        "dr.yaml:1610: DestinationRule ns-123/r123 at spec.trafficPolicy.connectionPool.http."
        "idleTimeout: invalid duration '5x'"
    )
    assert found[1] == (
        "dr.yaml:2612: DestinationRule ns-200/r200 at spec.trafficPolicy.connectionPool.http."
        'http1MaxPending: unknown field "http1MaxPending"',
        "warning",
        "spec.trafficPolicy.connectionPool.http.http1MaxPending",
    )


def test_stored_documents_with_the_api_servers_fields_share_a_shape() -> None:
    """What the store writes: every object has its own `uid` and `resourceVersion` (a quoted
    integer); they are leaves of the shape, not part of it, so a store of many objects of one
    kind dumps them from one template (the emitter takes ~1 ms a document) and reads them back
    from one shape (a control plane loading its store), and the text and the data are still
    the emitter's and the parser's, whatever the UUID or version."""
    monkey = yaml_shapes.DumpShapes()
    uids = [
        "094740b5-fbdd-413b-80dd-2991ee6346f8",
        "ac58175d-c1ce-440a-b51b-e3e608b5509f",
        "12345678-1234-4123-8123-123456789012",
    ]
    written = []
    for index, uid in enumerate(uids * 3):
        doc = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"generation": index + 1, "name": f"dr{index}", "namespace": "default",
                         "resourceVersion": str(index * 97 + 1), "uid": uid},
            "spec": {"host": f"svc{index}"},
        }  # fmt: skip
        written.append(doc)
        made = monkey.dumped(doc, yaml_text._dump_one)
        assert made == yaml_text._dump([doc]), made
        assert f"resourceVersion: '{index * 97 + 1}'" in made and f"uid: {uid}" in made
    assert all(t is not None for t in monkey._found.values())
    assert len(monkey._found) == 1  # 9 documents, one shape
    stored = "---\n".join(monkey.dumped(d, yaml_text._dump_one) for d in written)
    assert _seen(yaml_text.parse_yaml(stored, "config.yaml")) == _whole(stored, "config.yaml")
    shapes = yaml_shapes.SHAPES._found.values()  # read back from few shapes, as strings
    assert len(shapes) == 1 and all(found is not None for found in shapes)
    parsed = yaml_text.parse_yaml(stored, "config.yaml")[0]
    assert [d.data["metadata"]["resourceVersion"] for d in parsed][:2] == ["1", "98"]


def test_keys_equal_in_python_but_written_otherwise_get_shapes_of_their_own() -> None:
    """`1`, `True` and `1.0` are equal dict keys in Python but three YAML keys: a document
    keyed by one is not written from the shape of a document keyed by another (before, the
    second and third were written `1: x`)."""
    monkey = yaml_shapes.DumpShapes()
    for key in (1, True, 1.0, "1", 1, True):
        doc = {"spec": {key: "x"}}
        assert monkey.dumped(doc, yaml_text._dump_one) == yaml_text._dump([doc]), key


def test_strings_are_leaves_or_not_wherever_they_were_seen_first() -> None:
    """A string's kind of leaf (a word, an integer's digits, neither) is kept once seen; the
    same strings in other places and other documents still give the emitter's text."""
    monkey = yaml_shapes.DumpShapes()
    strings = ["word", "123", "true", "5s", "a b", "x-1.y", "0", "007", ""]
    for turn in range(len(strings)):
        turned = strings[turn:] + strings[:turn]
        doc = {"spec": dict(zip(strings, turned, strict=True)), "items": turned}
        assert monkey.dumped(doc, yaml_text._dump_one) == yaml_text._dump([doc]), turned
