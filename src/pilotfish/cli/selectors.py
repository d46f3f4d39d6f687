"""kubectl's label selectors (`-l`/`--selector`), as apimachinery's `labels.Parse` reads them:
requirements separated by commas (not those inside parentheses), each `key=value`,
`key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (has the label) or `!key`
(has it not). An object matches when it meets every requirement; `!=` and `notin` match an
object without the label too, as in Kubernetes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SET = re.compile(r"^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$")
_COMPARE = re.compile(r"^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$")
_EXISTS = re.compile(r"^(!?)\s*([^\s!=(),]+)$")

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)


@dataclass(frozen=True)
class Selector:
    """Requirements on an object's labels; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def equal(cls, pairs: Mapping[str, Any]) -> Selector:
        """A Service's `selector`: every `key=value` of the map."""
        return cls(tuple((str(k), "=", (str(v),)) for k, v in pairs.items()))

    def matches(self, labels: Mapping[str, Any]) -> bool:
        return all(_meets(labels, *r) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _meets(labels: Mapping[str, Any], key: str, operator: str, values: tuple[str, ...]) -> bool:
    present = key in labels
    value = str(labels.get(key)) if present else None
    if operator in ("=", "in"):
        return present and value in values
    if operator in ("!=", "notin"):
        return not present or value not in values
    return present if operator == "exists" else not present


def parse_selector(text: str) -> Selector | None:
    """The selector `text` writes; None when kubectl would refuse it."""
    found: list[Requirement] = []
    for part in _split(text):
        if not part:
            continue
        if match := _SET.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            found.append((match.group(1), match.group(2), values))
        elif match := _COMPARE.match(part):
            operator = "!=" if match.group(2) == "!=" else "="
            found.append((match.group(1), operator, (match.group(3),)))
        elif match := _EXISTS.match(part):
            found.append((match.group(2), "absent" if match.group(1) else "exists", ()))
        else:
            return None
    return Selector(tuple(found)) if found else None


def _split(text: str) -> list[str]:
    """The requirements of `text`: split at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]
