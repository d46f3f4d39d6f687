"""Documents of one shape parsed once: a stream of many similar documents (an apply of 1,000
DestinationRules) costs one YAML parse per shape, not one per document; and written once
(`DumpShapes`: the store writes each document it is given).

The pure-Python round-trip parser (`yaml_text`) takes ~2 ms for a ten-line document. A
document's *shape* is its text with the value of each simple line (`key: value` or `- value`,
the value a plain word or integer, `_token`) replaced by a placeholder; every other line,
keys included, is kept as it is. Two documents of one shape differ only in those values, and a
value made only of letters, digits, `_`, `.` and `-` (starting with a letter, `_` or a digit)
cannot change how the document around it parses: so the document parses to the shape's data
with those values in their places (`Shape.document`), with the shape's lines. What a value
becomes is decided here as YAML 1.2 decides it for such a word (`_token`: an integer, or a
string unless it is one of the words a YAML schema reads otherwise, which keep their line as
it is), and a shape is kept only when that agrees with what the parser made of the first
document (`shape_of`), each placeholder found at exactly one field of its line.

Anything else keeps the old path (`yaml_text.parse_yaml`): directives and document end markers,
a `---` line with content, a document that does not parse alone exactly as in its stream
(errors are reported from the whole stream, as before).
"""

from __future__ import annotations

import marshal
import re
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

_SIMPLE = re.compile(r"( *)((?:- )?)([A-Za-z_][A-Za-z0-9_.-]*): ([A-Za-z0-9_.-]+)[ \t]*\Z")
_ITEM = re.compile(r"( *)- ([A-Za-z0-9_.-]+)[ \t]*\Z")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_INTEGER = re.compile(r"(?:0|[1-9][0-9]{0,15})\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
"""An object's `metadata.uid`: a string in every YAML schema, even when it starts with a digit."""
_QUOTED = re.compile(r"( *)((?:- )?)([A-Za-z_][A-Za-z0-9_.-]*): '(0|[1-9][0-9]{0,15})'[ \t]*\Z")
"""A single-quoted integer's digits (an object's `resourceVersion`): a string."""
_OTHER_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})
"""Words some YAML schema reads as a boolean or null (in any case): kept as they are."""
_MARKER = re.compile(r"---[ \t]*\Z")
PLACEHOLDER = "\x00"
MAX_SHAPES = 64
"""Shapes kept (the most recently used)."""

Access = tuple[str | int, ...]
"""Keys and indices from a document's root to one value."""


def _token(text: str) -> str | int | None:
    """What a simple line's value is (None: not a placeholder; its line stays as it is)."""
    if _INTEGER.match(text):
        return int(text)
    if (_WORD.match(text) and text.lower() not in _OTHER_WORDS) or _UUID.match(text):
        return text
    return None


def split(text: str) -> list[tuple[int, str]] | None:
    """The documents of a stream as (line the document's text starts at, 1-based; its text),
    or None when the stream is not made only of documents and `---` lines."""
    found: list[tuple[int, str]] = []
    start, lines = 1, list[str]()
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(("---", "...", "%")):
            if not _MARKER.match(line):
                return None
            found.append((start, "".join(f"{line}\n" for line in lines)))  # as in the stream
            start, lines = number + 1, []
        else:
            lines.append(line)
    found.append((start, "\n".join(lines)))
    return found


@dataclass(frozen=True)
class Signature:
    """A document's shape (its text with placeholders) and the values taken out of it, with
    the line (relative, 1-based) and key (None for a sequence item) of each."""

    shape: str
    values: tuple[str | int, ...]
    where: tuple[tuple[int, str | None], ...]


def signature(text: str) -> Signature:
    lines = text.split("\n")
    values: list[str | int] = []
    where: list[tuple[int, str | None]] = []
    for index, line in enumerate(lines):
        simple = _SIMPLE.match(line)
        if simple is not None:
            value = _token(simple.group(4))
            if value is not None:
                lines[index] = f"{simple.group(1)}{simple.group(2)}{simple.group(3)}: {PLACEHOLDER}"
                values.append(value)
                where.append((index + 1, simple.group(3)))
            continue
        quoted = _QUOTED.match(line)
        if quoted is not None:  # its quotes stay in the shape: its value is a string
            lines[index] = f"{quoted.group(1)}{quoted.group(2)}{quoted.group(3)}: '{PLACEHOLDER}'"
            values.append(quoted.group(4))
            where.append((index + 1, quoted.group(3)))
            continue
        item = _ITEM.match(line)
        if item is not None and (value := _token(item.group(2))) is not None:
            lines[index] = f"{item.group(1)}- {PLACEHOLDER}"
            values.append(value)
            where.append((index + 1, None))
    return Signature("\n".join(lines), tuple(values), tuple(where))


@dataclass(frozen=True)
class Shape:
    """A parsed document of one shape: its data (never handed out: copied), its lines and
    first line (relative), the values it counted (`yaml_text.MAX_NODES`), and where each
    placeholder's value goes."""

    data: dict[str, Any]
    lines: dict[str, int]
    first_line: int
    nodes: int
    slots: tuple[Access, ...]
    packed: bytes | None = None
    """`data` marshalled, when it holds only what `marshal` writes exactly (maps, lists,
    strings, numbers, booleans, null): a copy is then unmarshalled in C."""

    def document(
        self, values: tuple[str | int, ...], offset: int
    ) -> tuple[dict[str, Any], dict[str, int], int]:
        """(data, lines, first line) of a document of this shape with these values, its text
        starting `offset` lines after the stream's first."""
        data = marshal.loads(self.packed) if self.packed is not None else _copy(self.data)
        for access, value in zip(self.slots, values, strict=True):
            target: Any = data
            for step in access[:-1]:
                target = target[step]
            target[access[-1]] = value
        lines = {path: line + offset for path, line in self.lines.items()}
        return data, lines, self.first_line and self.first_line + offset


def shape_of(
    sig: Signature, data: dict[str, Any], lines: dict[str, int], first_line: int, nodes: int
) -> Shape | None:
    """The shape of a document parsed with these (relative) lines, if each placeholder's
    value is found, as `_token` reads it, at exactly one field of its line."""
    accesses = dict(_accesses(data, "", ()))
    on_line: dict[int, list[str]] = {}
    for path, line in lines.items():
        on_line.setdefault(line, []).append(path)
    slots: list[Access] = []
    for value, (line, key) in zip(sig.values, sig.where, strict=True):
        found = [
            accesses[p]
            for p in on_line.get(line, ())
            if p in accesses and (accesses[p][-1] == key if key is not None else p.endswith("]"))
        ]
        if len(found) != 1:
            return None
        target: Any = data
        for step in found[0]:
            target = target[step]
        if type(target) is not type(value) or target != value:
            return None
        slots.append(found[0])
    return Shape(_copy(data), dict(lines), first_line, nodes, tuple(slots), _packed(data))


def _packed(data: dict[str, Any]) -> bytes | None:
    try:
        packed = marshal.dumps(data)
    except ValueError:  # a value marshal does not write (a timestamp...): copied in Python
        return None
    return packed if marshal.loads(packed) == data else None


def _accesses(value: Any, path: str, access: Access) -> Iterator[tuple[str, Access]]:
    """(field path as `yaml_text` writes it, access) of every value below `value` that is not
    a map or a list."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _accesses(item, f"{path}.{key}" if path else key, (*access, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _accesses(item, f"{path}[{index}]", (*access, index))
    else:
        yield path, access


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Shapes:
    """The shapes seen lately (`MAX_SHAPES`), and those that cannot be (None)."""

    def __init__(self) -> None:
        self._found: dict[str, Shape | None] = {}
        self._lock = threading.Lock()

    def get(self, shape: str) -> Shape | bool | None:
        """The shape, None if it cannot be one, False if not seen."""
        with self._lock:
            if shape not in self._found:
                return False
            found = self._found.pop(shape)
            self._found[shape] = found  # most recently used last
            return found

    def put(self, shape: str, found: Shape | None) -> None:
        with self._lock:
            self._found[shape] = found
            while len(self._found) > MAX_SHAPES:
                del self._found[next(iter(self._found))]


SHAPES = Shapes()


_SLOT = re.compile(r"q([0-9]+)zpilotfishslotq")
_LEAF_KINDS: dict[str, tuple[str, str] | None] = {}
"""A string's `_leaf` (a store's documents repeat most of their strings), up to `MAX_LEAF_KINDS`."""
MAX_LEAF_KINDS = 50_000
_UNSEEN = ("", "")


def _leaf(value: Any) -> tuple[str, str | int] | None:
    """(its kind, its text in the YAML) when `value` is a leaf the shapes take out: an integer
    or a word (`_token`'s strings, UUIDs included) as itself; a string of an integer's digits
    (the API server's `resourceVersion`) single-quoted, as the emitter must quote it. None for
    any other value, which stays in the shape."""
    if type(value) is int:
        return "i", value
    if type(value) is not str:
        return None
    found = _LEAF_KINDS.get(value, _UNSEEN)  # one look-up: another thread may clear it
    if found is not _UNSEEN:
        return found
    if _token(value) == value:
        found = "s", value
    else:
        found = ("q", f"'{value}'") if _INTEGER.match(value) else None
    if len(_LEAF_KINDS) >= MAX_LEAF_KINDS:
        _LEAF_KINDS.clear()
    _LEAF_KINDS[value] = found
    return found


_DICT, _LIST, _END, _VALUE = object(), object(), object(), object()
"""Markers of a structure in a flat dump key (`_dump_key`): equal to nothing but themselves."""
_LEAF_MARKS = {"i": object(), "s": object(), "q": object()}


def _dump_key(value: Any, leaves: list[str | int], key: list[object]) -> None:
    """The structure of `value` with every leaf (`_leaf`) taken out into `leaves` as its text,
    appended to `key` in one flat list (a marker for each dict, list, their ends, and each
    leaf's kind; a dict's keys, of another type than str with their type; other values with
    their type): two values give the same key exactly when they have the same structure and
    the same values outside their leaves."""
    if isinstance(value, dict):
        key.append(_DICT)
        for k, v in value.items():
            key.append(k if type(k) is str else (type(k), k))
            _dump_key(v, leaves, key)
        key.append(_END)
    elif isinstance(value, list):
        key.append(_LIST)
        for v in value:
            _dump_key(v, leaves, key)
        key.append(_END)
    else:
        leaf = _leaf(value)
        if leaf is not None:
            leaves.append(leaf[1])
            key.append(_LEAF_MARKS[leaf[0]])
        else:
            key += (_VALUE, type(value), value)


def _marked(value: Any, count: list[int]) -> Any:
    """`value` with each leaf `_dump_key` takes out replaced by its marker."""
    if isinstance(value, dict):
        return {k: _marked(v, count) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v, count) for v in value]
    if _leaf(value) is not None:
        count[0] += 1
        return f"q{count[0] - 1}zpilotfishslotq"
    return value


@dataclass(frozen=True)
class _Template:
    """A shape's text cut at its markers: `texts[0]`, leaf `slots[0]`, `texts[1]`, ..."""

    texts: tuple[str, ...]
    slots: tuple[int, ...]

    @classmethod
    def of(cls, made: str) -> _Template:
        cut = _SLOT.split(made)
        return cls(tuple(cut[0::2]), tuple(int(n) for n in cut[1::2]))

    def fill(self, leaves: list[str | int]) -> str:
        texts = self.texts
        out = [texts[0]]
        for at, slot in enumerate(self.slots, 1):
            out.append(str(leaves[slot]))
            out.append(texts[at])
        return "".join(out)


class DumpShapes:
    """One document's YAML made from the text of a document of the same structure and words
    in other places: `dumped(doc, dump)` is `dump(doc)`, made by `dump` once per shape (the
    pure-Python emitter takes ~1 ms per small document). A word (`_token`'s strings: letters,
    digits, `_`, `.`, `-`, starting with a letter or `_`, none a YAML boolean or null) or an
    integer is written as itself, plain, wherever it stands, so the text of a document of a
    known shape is the shape's with its leaves in the markers' places; a shape is kept only
    when that gives exactly `dump`'s text for the document it was made from."""

    def __init__(self) -> None:
        self._found: dict[Hashable, _Template | None] = {}
        self._lock = threading.Lock()

    def dumped(self, doc: dict[str, Any], dump: Callable[[dict[str, Any]], str]) -> str:
        leaves: list[str | int] = []
        flat: list[object] = []
        try:
            _dump_key(doc, leaves, flat)
            key = tuple(flat)
            hash(key)
        except TypeError:  # a value that cannot be a key: not kept
            return dump(doc)
        with self._lock:
            template = self._found.get(key, False)
        if isinstance(template, _Template):
            return template.fill(leaves)
        text = dump(doc)
        if template is False:
            made = _Template.of(dump(_marked(doc, [0])))
            same = sorted(made.slots) == list(range(len(leaves))) and made.fill(leaves) == text
            with self._lock:
                self._found[key] = made if same else None
                while len(self._found) > MAX_SHAPES:
                    del self._found[next(iter(self._found))]
        return text


DUMP_SHAPES = DumpShapes()

__all__ = [
    "DUMP_SHAPES",
    "SHAPES",
    "DumpShapes",
    "Shape",
    "Shapes",
    "Signature",
    "shape_of",
    "signature",
    "split",
]
