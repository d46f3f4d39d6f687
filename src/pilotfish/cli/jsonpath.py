"""kubectl's `-o jsonpath=TEMPLATE` (k8s.io/client-go/util/jsonpath), for the forms Istio's docs
and everyday kubectl use: `{.a.b[0].c}`, keys with dots (`{.data.root-cert\\.pem}`,
`{.data['root-cert.pem']}`), `[*]`, `[?(@.name=="http2")]` filters, recursive
descent (`{.items..metadata.name}`), `{range …}…{end}` and string literals (`{"\\n"}`).

Printed as kubectl prints it: text outside braces verbatim, the values of one `{…}` joined by a
space, maps and lists as compact JSON, and no newline added at the end.

Also `protojson`: Envoy's admin JSON with istioctl's field spelling, for `proxy-config -o json`.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STEP = re.compile(
    r"(\.\.?)((?:[A-Za-z0-9_-]|\\\.)+)|\[(\d+|\*)\]"
    r"|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
    r"|\[['\"]([^'\"]+)['\"]\]"
)
_ACTION = re.compile(r"\{((?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^}\"'])*)\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class JsonPathError(ValueError):
    """A template kubectl would refuse (an unclosed `{range}` or a stray `{end}`)."""


def jsonpath(data: Any, template: str) -> list[Any]:
    """The values the `{…}` expressions of `template` select in `data`, in order."""
    values: list[Any] = []
    for expr in _ACTION.findall(template) or [template]:
        values.extend(evaluate(data, expr))
    return values


def evaluate(data: Any, expr: str) -> list[Any]:
    """The values one expression (`.items[*].metadata.name`) selects; `@`/`$` start it at the
    current item / the root, which here are the same object."""
    current = [data]
    for dots, dotted, index, key, wanted, quoted in _STEP.findall(expr.strip().lstrip("$@")):
        field = quoted or dotted.replace("\\.", ".")  # `.data.root-cert\.pem`, `['a.b']`
        nxt: list[Any] = []
        for item in current:
            if field and dots == "..":
                nxt.extend(_descend(item, field))
            elif field and isinstance(item, dict) and field in item:
                nxt.append(item[field])
            elif index == "*" and isinstance(item, list):
                nxt.extend(item)
            elif index == "*" and isinstance(item, dict):
                nxt.extend(item.values())
            elif index and index != "*" and isinstance(item, list) and int(index) < len(item):
                nxt.append(item[int(index)])
            elif key and isinstance(item, list):
                nxt.extend(x for x in item if str(_dig(x, key)) == wanted)
        current = nxt
    return current


def render(data: Any, template: str) -> str:
    """The text kubectl prints for `-o jsonpath=TEMPLATE` (without a trailing newline)."""
    nodes, rest = _parse(_tokens(template))
    if rest:
        raise JsonPathError("not in range, nothing to end")
    return _render(nodes, data, data)


Node = tuple[str, str, list[Any]]


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", …), ("expr", …), ("literal", …), ("range", …) and ("end", "")."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(template):
        if match.start() > pos:
            tokens.append(("text", template[pos : match.start()]))
        body = match.group(1).strip()
        if len(body) >= 2 and body[0] == body[-1] == '"':
            tokens.append(("literal", re.sub(r"\\(.)", _unescape, body[1:-1])))
        elif len(body) >= 2 and body[0] == body[-1] == "'":
            tokens.append(("literal", body[1:-1]))
        elif body == "end":
            tokens.append(("end", ""))
        elif body.split(" ", 1)[0] == "range":
            tokens.append(("range", body[len("range") :].strip()))
        else:
            tokens.append(("expr", body))
        pos = match.end()
    if pos < len(template):
        tokens.append(("text", template[pos:]))
    return tokens


def _unescape(match: re.Match[str]) -> str:
    return _ESCAPES.get(match.group(1), match.group(1))


def _parse(tokens: list[tuple[str, str]]) -> tuple[list[Node], list[tuple[str, str]]]:
    """Nodes up to the first unmatched `{end}`, and the tokens from that `{end}` on."""
    nodes: list[Node] = []
    while tokens:
        (kind, value), tokens = tokens[0], tokens[1:]
        if kind == "end":
            return nodes, [("end", ""), *tokens]
        if kind != "range":
            nodes.append((kind, value, []))
            continue
        body, tokens = _parse(tokens)
        if not tokens:
            raise JsonPathError("unclosed range")
        nodes.append((kind, value, body))
        tokens = tokens[1:]
    return nodes, []


def _render(nodes: list[Node], item: Any, root: Any) -> str:
    out: list[str] = []
    for kind, value, body in nodes:
        if kind in ("text", "literal"):
            out.append(value)
            continue
        selected = evaluate(root if value.startswith("$") else item, value)
        if kind == "expr":
            out.append(" ".join(_text(v) for v in selected))
        else:  # range: the body once per selected value
            for value_item in selected:  # a list selected whole (`{range .items}`) is iterated
                each = value_item if isinstance(value_item, list) else [value_item]
                out.extend(_render(body, v, root) for v in each)
    return "".join(out)


def _text(value: Any) -> str:
    """A value as kubectl prints it: strings raw, booleans lower case, maps and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _descend(item: Any, field: str) -> list[Any]:
    """Every value of `field` at any depth under `item`, in document order (jsonpath `..`)."""
    found: list[Any] = []
    if isinstance(item, dict):
        for key, value in item.items():
            if key == field:
                found.append(value)
            found.extend(_descend(value, field))
    elif isinstance(item, list):
        for value in item:
            found.extend(_descend(value, field))
    return found


def _dig(item: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


_FIELD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_STRUCTS = ("filter_metadata", "typed_filter_metadata")  # maps of Structs: their keys are data


def protojson(value: Any, parent: str = "") -> Any:
    """Envoy's admin JSON (proto field names, `lb_policy`) as istioctl prints it: protojson's
    lowerCamelCase (`lbPolicy`), so Istio's `… -o json | jq '.dynamicActiveSecrets'` works. The
    keys of maps of Structs (`filter_metadata`) and of the node's `metadata` Struct are data and
    stay as they are."""
    if isinstance(value, list):
        return [protojson(v, parent) for v in value]
    if not isinstance(value, dict):
        return value
    if parent in _STRUCTS or (parent == "metadata" and "filter_metadata" not in value):
        return value
    converted = {}
    for key, item in value.items():
        name = key
        if _FIELD.fullmatch(key):
            head, *rest = key.split("_")
            name = head + "".join(part[:1].upper() + part[1:] for part in rest)
        converted[name] = protojson(item, key)
    return converted
