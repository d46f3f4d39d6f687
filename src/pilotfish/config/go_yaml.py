"""YAML as Go's `sigs.k8s.io/yaml` writes it (go-yaml v2 under it): what `kubectl get -o yaml`
prints (`dump_go_yaml`).

kubectl turns an object into JSON, then JSON into YAML with go-yaml v2, whose choices differ from
the store's emitter (`yaml_text.dump_yaml`):

- map keys in go-yaml's "natural" order (`go_key_less`: digit runs by value, letters after other
  characters: `port9` before `port10`, `a_b` before `aB`);
- a string that would read back as something else (go-yaml's YAML 1.1 resolver: a number in
  any base Go parses, with `_`, a float, a timestamp such as `creationTimestamp`'s, `true`,
  `yes`, `on`, `~`, `null`, the empty string, `<<`, a base-60 number like `1:20`) is
  double-quoted (`creationTimestamp: "2026-12-03T03:14:17Z"`, `resourceVersion: "123"`,
  `resourceVersion: ""`); a string with a line break is a literal block; any other string is
  plain unless libyaml's analysis of its characters forbids it (`'*'`, `'a: b'`, `' x'`:
  single-quoted; a non-printable character: double-quoted, escaped);
- numbers as Go writes a JSON number back: an integral float as an integer, others as
  `strconv.FormatFloat(f, 'g', -1, 64)` (`1.2345675e+06`).

The scalar analysis, style choice and scalar writers (folding at 80 columns, escapes) are
go-yaml's (`config.go_yaml_emitter`), the block structure ruamel's port of the same libyaml
emitter. Pure.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import io
import math
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.resolver import BaseResolver

from pilotfish.config.go_yaml_emitter import GoEmitter

_STR = "tag:yaml.org,2002:str"
_NOT_STRINGS = frozenset({
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
})  # fmt: skip
"""go-yaml v2's resolve table: words read as booleans, null, special floats or a merge key."""
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_STAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2})))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?\Z"
)
"""go-yaml's timestamp layouts: RFC 3339 (`T` or `t`, a zone), `date time` without a zone, and
a date alone, with Go's one- or two-digit month, day, hour, minute and second."""


def _go_int(text: str) -> bool:
    """Whether Go's `strconv.ParseInt(text, 0, 64)` or `ParseUint` accepts the text (signs,
    0b/0o/0x prefixes, a leading 0 for octal)."""
    body = text[1:] if text[:1] in "+-" else text
    if not body:
        return False
    base = 10
    if body[0] == "0" and len(body) > 1:
        prefix = body[1].lower()
        if len(body) >= 3 and prefix in "box":
            base, body = {"b": 2, "o": 8, "x": 16}[prefix], body[2:]
        else:
            base, body = 8, body[1:]
    if not all(c in _DIGITS[base] for c in body):
        return False
    value = int(body, base) if body else 0
    return value < 2**64 if text[:1] != "-" else value <= 2**63


def _timestamp(text: str) -> bool:
    match = _STAMP.match(text)
    if match is None:
        return False
    year, month, day, *clock = match.groups()
    hour, minute, second = next(
        ((h, m, s) for h, m, s in (clock[0:3], clock[5:8]) if h is not None), ("0", "0", "0")
    )
    try:
        datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return False
    offset = clock[3:5]
    return offset[0] is None or (int(offset[0]) <= 24 and int(offset[1]) <= 60)  # Go's limits


def plain_is_string(text: str) -> bool:
    """Whether go-yaml writes the string unquoted-able: its resolver reads it back as a string
    (and it is not a base-60 number, which it quotes for older parsers)."""
    if text in _NOT_STRINGS:
        return False
    first = text[0]
    if first == ".":
        return not _FLOAT.match(text)  # Go's ParseFloat of a leading "."
    if first not in "+-0123456789":
        return True
    if _timestamp(text):
        return False
    plain = text.replace("_", "")
    if _go_int(plain) or _FLOAT.match(plain):
        return False
    return not _BASE60.match(text)


def go_key_less(a: str, b: str) -> bool:
    """go-yaml v2's `keyList.Less` for two string keys."""
    for i in range(min(len(a), len(b))):
        x, y = a[i], b[i]
        if x == y:
            continue
        x_letter, y_letter = x.isalpha(), y.isalpha()
        if x_letter and y_letter:
            return x < y
        if x_letter or y_letter:
            return y_letter
        an = bn = 0
        if x == "0" or y == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai, bi = i, i
        while ai < len(a) and a[ai].isdigit():
            an, ai = an * 10 + int(a[ai]), ai + 1
        while bi < len(b) and b[bi].isdigit():
            bn, bi = bn * 10 + int(b[bi]), bi + 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return x < y
    return len(a) < len(b)


def _compare_items(a: tuple[Any, Any], b: tuple[Any, Any]) -> int:
    x, y = str(a[0]), str(b[0])
    return -1 if go_key_less(x, y) else 1 if go_key_less(y, x) else 0


def go_float(value: float) -> str:
    """A JSON number as kubectl writes it back: integral -> an integer (json.Marshal writes
    it without a fraction below 1e21, go-yaml reads an int), else Go's shortest `%g`."""
    if math.isnan(value) or math.isinf(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # digits before the decimal point
    sign_text = "-" if sign else ""
    power = point - 1
    if power < -4 or power >= 6:  # %e: Go's shortest %g decides with a precision of 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{sign_text}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{sign_text}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{sign_text}{text}{'0' * (point - len(text))}"
    return f"{sign_text}{text[:point]}.{text[point:]}"


class _GoRepresenter(SafeRepresenter):  # type: ignore[misc]
    """Plain data as go-yaml's encoder sees kubectl's JSON: every scalar is written with the
    text and style go-yaml gives it (no tags: the resolver is ruamel's base one)."""

    def represent_str(self, data: str) -> Any:  # encoder.stringv
        style = "|" if "\n" in data else "" if plain_is_string(data) else '"'
        return self.represent_scalar(_STR, data, style=style or None)

    def represent_bool(self, data: bool) -> Any:
        return self.represent_scalar(_STR, "true" if data else "false")

    def represent_int(self, data: int) -> Any:
        return self.represent_scalar(_STR, str(data))

    def represent_float(self, data: float) -> Any:
        return self.represent_scalar(_STR, go_float(data))

    def represent_none(self, data: None) -> Any:
        return self.represent_scalar(_STR, "null")

    def represent_dict(self, data: dict[Any, Any]) -> Any:
        ordered = sorted(data.items(), key=functools.cmp_to_key(_compare_items))
        return self.represent_mapping("tag:yaml.org,2002:map", ordered)


class _NoImplicitTags(BaseResolver):  # type: ignore[misc]
    """No implicit types: every scalar the representer made is a string, written untagged."""

    def __init__(self, version: Any = None, loader: Any = None) -> None:
        super().__init__(loader)


_GoRepresenter.sort_base_mapping_type_on_output = False
for _kind, _method in (
    (str, _GoRepresenter.represent_str),
    (bool, _GoRepresenter.represent_bool),
    (int, _GoRepresenter.represent_int),
    (float, _GoRepresenter.represent_float),
    (type(None), _GoRepresenter.represent_none),
    (dict, _GoRepresenter.represent_dict),
):
    _GoRepresenter.add_representer(_kind, _method)


def dump_go_yaml(data: Any) -> str:
    """One object (or List) as `kubectl get -o yaml` prints it."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = _GoRepresenter
    yaml.Emitter = GoEmitter
    yaml.Resolver = _NoImplicitTags
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
