"""YAML text ↔ plain data: `parse_yaml` (→ `RawDocument`s, read the way Kubernetes reads it, with
a line for every field path) and `dump_yaml` (what `get -o yaml` prints and the store writes).

Owns: YAML 1.2 parsing (ruamel round-trip: `yes`/`on` stay strings, quoted scalars stay strings,
integer map keys become strings, timestamps become their ISO text), multi-document streams,
conversion to plain Python values, and the path → line table used by every diagnostic.
Pathological input is bounded: a size cap per input and per object, a nesting-depth cap and a
node budget (alias bombs).
Syntax errors come back as `Diagnostic`s with file:line; nothing here raises for bad input.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.representer import SafeRepresenter

from pilotfish.config import yaml_shapes
from pilotfish.config.objects import Diagnostic, Source, line_at

MAX_BYTES = 8 * 1024 * 1024
"""Largest input accepted, per file or stream."""
MAX_OBJECT_BYTES = 1_572_864
"""Largest document accepted, as text (Kubernetes' limit for an object: 1.5 MiB). Checked before
parsing, since parsing is what a large object costs."""
_DOCUMENT_START = re.compile(r"^---", re.MULTILINE)
MAX_DEPTH = 64
"""Deepest nesting of maps and lists accepted (Istio specs need fewer than 15)."""
MAX_NODES = 250_000
"""Most values produced from one stream, counting alias expansions (guards against alias bombs)."""

_FLOW_OPENERS = re.compile(r"[\[{]")


@dataclass(frozen=True)
class RawDocument:
    """One YAML document as plain data, with where each field came from."""

    data: dict[str, Any]
    source: Source
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def kind(self) -> str:
        value = self.data.get("kind")
        return value if isinstance(value, str) else ""

    @property
    def api_version(self) -> str:
        value = self.data.get("apiVersion")
        return value if isinstance(value, str) else ""

    @property
    def metadata(self) -> dict[str, Any]:
        value = self.data.get("metadata")
        return value if isinstance(value, dict) else {}

    def line_of(self, path: str) -> int:
        """Line of a field path such as `spec.http[0].route[1].weight`, or of its nearest
        ancestor that has one; the document's first line when nothing matches."""
        return line_at(self.lines, path, self.source.line)

    def source_of(self, path: str) -> Source:
        return Source(self.source.file, self.line_of(path))


def join_path(parent: str, key: str | int) -> str:
    """`join_path("spec.http", 0)` → `spec.http[0]`; `join_path("spec", "hosts")` → `spec.hosts`."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class _Budget(Exception):
    """Internal: the document exceeded a depth or node bound."""


class _Converter:
    """Turns ruamel round-trip values into plain data, recording the line of every path."""

    def __init__(self, max_nodes: int) -> None:
        self.remaining = max_nodes
        self.lines: dict[str, int] = {}

    def convert(self, value: Any, path: str, depth: int) -> Any:
        self.remaining -= 1
        if self.remaining < 0:
            raise _Budget(f"too many values (limit {MAX_NODES}, counting aliases)")
        if depth > MAX_DEPTH:
            raise _Budget(f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(value, CommentedMap):
            return self._convert_map(value, path, depth)
        if isinstance(value, CommentedSeq):
            out_list = []
            for index, item in enumerate(value):
                item_path = join_path(path, index)
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    self.lines[item_path] = value.lc.item(index)[0] + 1
                out_list.append(self.convert(item, item_path, depth + 1))
            return out_list
        return _plain_scalar(value)

    def _convert_map(self, value: CommentedMap, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            text_key = _plain_key(key)
            item_path = join_path(path, text_key)
            with contextlib.suppress(KeyError, IndexError, TypeError):
                self.lines[item_path] = value.lc.key(key)[0] + 1
            out[text_key] = self.convert(item, item_path, depth + 1)
        return out


def _plain_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    plain = _plain_scalar(key)
    return plain if isinstance(plain, str) else str(plain)


def _plain_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _oversized_document(text: str) -> tuple[int, int] | None:
    """(first line, size) of the first document over MAX_OBJECT_BYTES, or None."""
    if len(text) <= MAX_OBJECT_BYTES:
        return None
    starts = [0, *(m.start() for m in _DOCUMENT_START.finditer(text)), len(text)]
    for begin, end in itertools.pairwise(starts):
        if end - begin > MAX_OBJECT_BYTES:
            return text.count("\n", 0, begin) + 1, end - begin
    return None


def _flow_depth_exceeded(text: str) -> bool:
    """Cheap pre-check: deeply nested flow collections would exhaust the parser's stack."""
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth = max(0, depth - 1)
    return False


def parse_yaml(text: str, source: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Parse a multi-document YAML stream. Empty documents are skipped; a document that is not
    a mapping, or that cannot be parsed, becomes an error Diagnostic."""
    if len(text) > MAX_BYTES:
        return [], [_error(source, 0, f"input is larger than {MAX_BYTES} bytes")]
    oversized = _oversized_document(text)
    if oversized is not None:
        line, size = oversized
        message = (
            f"document is {size} bytes; an object may be at most {MAX_OBJECT_BYTES} bytes "
            "(1.5 MiB, as in Kubernetes)"
        )
        return [], [_error(source, line, message)]
    if _FLOW_OPENERS.search(text) and _flow_depth_exceeded(text):
        return [], [_error(source, 0, f"nesting deeper than {MAX_DEPTH} levels")]
    by_shapes = _by_shapes(text, source)
    if by_shapes is not None:
        return by_shapes, []
    return _parse_stream(text, source, _Converter(MAX_NODES))


def _by_shapes(text: str, source: str) -> list[RawDocument] | None:
    """The stream's documents, each of a shape seen before made from it (`yaml_shapes`), the
    others parsed alone (and their shapes kept); None when that cannot be exactly what
    `_parse_stream` gives (a document that does not parse alone, a stream over the node
    budget: `_parse_stream` reports it)."""
    chunks = yaml_shapes.split(text)
    if chunks is None:
        return None
    documents: list[RawDocument] = []
    budget = MAX_NODES
    for start, chunk in chunks:
        sig = yaml_shapes.signature(chunk)
        found = yaml_shapes.SHAPES.get(sig.shape)
        if isinstance(found, yaml_shapes.Shape):
            data, lines, first = found.document(sig.values, start - 1)
            budget -= found.nodes
        else:
            converter = _Converter(MAX_NODES)
            parsed, problems = _parse_stream(chunk, source, converter)
            if problems or len(parsed) > 1:
                return None
            if not parsed:
                continue
            doc, nodes = parsed[0], MAX_NODES - converter.remaining
            if found is False:
                shape = yaml_shapes.shape_of(sig, doc.data, doc.lines, doc.source.line, nodes)
                yaml_shapes.SHAPES.put(sig.shape, shape)
            data, first = doc.data, doc.source.line and doc.source.line + start - 1
            lines = {path: line + start - 1 for path, line in doc.lines.items()}
            budget -= nodes
        if budget < 0:
            return None
        documents.append(RawDocument(data, Source(source, first), lines))
    return documents


def _parse_stream(
    text: str, source: str, converter: _Converter
) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Parse a stream with ruamel's round-trip parser (the values `converter` counts)."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    documents: list[RawDocument] = []
    problems: list[Diagnostic] = []
    try:
        for loaded in yaml.load_all(text):
            if loaded is None:
                continue
            documents_line = _first_line(loaded)
            if not isinstance(loaded, CommentedMap):
                problems.append(_error(source, documents_line, "document is not a mapping"))
                continue
            converter.lines = {}
            data = converter.convert(loaded, "", 0)
            documents.append(RawDocument(data, Source(source, documents_line), converter.lines))
    except MarkedYAMLError as exc:
        where, problem = yaml_error_place(exc, source)
        found = Diagnostic("error", f"YAML syntax error: {problem}", source=where)
        return documents, [*problems, found]
    except YAMLError as exc:
        return documents, [*problems, _error(source, 0, f"YAML error: {exc}")]
    except _Budget as exc:
        return documents, [*problems, _error(source, 0, str(exc))]
    except RecursionError:
        return documents, [*problems, _error(source, 0, "YAML nested too deeply")]
    except (ValueError, TypeError, OverflowError) as exc:
        return documents, [*problems, _error(source, 0, f"YAML error: {exc}")]
    return documents, problems


def yaml_error_place(exc: YAMLError, source: str) -> tuple[Source, str]:
    """Where in `source` a YAML parse error is (its line from the problem's mark, else the
    context's; 0 when it has neither) and what it says (its problem, else its context, else the
    first line of its text): the one reading of ruamel's errors every caller prints."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 0
    said = getattr(exc, "problem", None) or getattr(exc, "context", None)
    return Source(source, line), str(said or (str(exc).splitlines() or ["invalid YAML"])[0])


def _first_line(loaded: Any) -> int:
    try:
        return int(loaded.lc.line) + 1
    except (AttributeError, TypeError):
        return 0


def _error(source: str, line: int, message: str) -> Diagnostic:
    return Diagnostic("error", message, source=Source(source, line))


class _KubectlRepresenter(SafeRepresenter):  # type: ignore[misc]
    """Multi-line strings as literal blocks (`mesh: |-`), as kubectl prints them."""


def _string(representer: SafeRepresenter, data: str) -> Any:
    block = "\n" in data and all(c in "\n\t" or c.isprintable() for c in data)
    style = "|" if block else None  # else quoted, escapes and all
    return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_KubectlRepresenter.add_representer(str, _string)


def dump_yaml(docs: Iterable[dict[str, Any]]) -> str:
    """YAML as kubectl prints it: block style, multi-line strings as literal blocks. One
    document is made from the text of its shape when one was seen (`yaml_shapes.DumpShapes`)."""
    listed = list(docs)
    if len(listed) == 1:
        return yaml_shapes.DUMP_SHAPES.dumped(listed[0], _dump_one)
    return _dump(listed)


def _dump_one(doc: dict[str, Any]) -> str:
    return _dump([doc])


def _dump(docs: list[dict[str, Any]]) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _KubectlRepresenter
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()
