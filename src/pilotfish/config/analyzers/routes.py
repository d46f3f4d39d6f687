"""VirtualService rules that can never be used: IST0130 (VirtualServiceUnreachableRule, Warning)
and IST0131 (VirtualServiceIneffectiveMatch, Info), for `http`, `tcp` and `tls` rules as Istio
does.

A rule is unreachable when it has no match and an earlier rule has none either ("only the last
rule can have no matches"), when an earlier rule has no match at all ("route without matches
defined before", once per match), or when every match repeats an earlier one ("all matches used
by prior rules"); each repeated match is IST0131. Matches compare by content, their `name`
aside. Rules and matches are named `"name"` when named, else `#index`. For `http`, a later URI
prefix match that an earlier, shorter prefix covers with the same port and (prefix-)compatible
method (GET when unset), authority, headers, query parameters and withoutHeaders is IST0131 too
(Istio's overlapping-prefix check). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.models.base import IstioModel
from pilotfish.config.models.networking import VirtualServiceSpec
from pilotfish.config.models.networking.virtual_service import HTTPMatchRequest, StringMatch
from pilotfish.config.objects import VirtualService


def _named(name: str | None, index: int) -> str:
    return json.dumps(name) if name else f"#{index}"


def _content(match: IstioModel) -> str:
    data = match.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
    return json.dumps(data, sort_keys=True)


def _exact_or_prefix(match: StringMatch | None) -> str:
    if match is not None and match.exact:
        return f"exact:{match.exact}"
    if match is not None and match.prefix:
        return f"prefix:{match.prefix}"
    return ""


def _prefix_match(rule: str, match: HTTPMatchRequest, index: int) -> dict[str, Any] | None:
    """What Istio's overlapping-prefix check compares of a URI prefix match (None otherwise)."""
    if match.uri is None or not match.uri.prefix:
        return None
    return {
        "rule": rule,
        "match": _named(match.name, index),
        "prefix": match.uri.prefix,
        "port": match.port or 0,
        "method": _exact_or_prefix(match.method) or "exact:GET",
        "authority": _exact_or_prefix(match.authority),
        "maps": [
            {k: _exact_or_prefix(v) for k, v in group.items()}
            for group in (match.headers, match.query_params, match.without_headers)
        ],
    }


def _covers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Istio's coveredValidation: `a` (earlier) leaves `b` (later) nothing to match."""
    if not b["prefix"].startswith(a["prefix"]) or a["port"] != b["port"]:
        return False
    for key in ("method", "authority"):
        if a[key] != b[key] and not a[key].startswith(b[key]):
            return False
    for mine, theirs in zip(a["maps"], b["maps"], strict=True):
        if len(mine) != len(theirs):
            return False
        for key, value in mine.items():
            if key not in theirs or (value != theirs[key] and not value.startswith(theirs[key])):
                return False
    return True


def _overlapping_prefixes(
    obj: VirtualService, found: list[dict[str, Any]]
) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for index, earlier in enumerate(found):
        for later in found[index + 1 :]:
            if later["prefix"] == earlier["prefix"] or not _covers(earlier, later):
                continue
            text = (
                f"VirtualService rule {later['rule']} match {later['match']} of prefix "
                f"{later['prefix']} is not used (duplicate/overlapping match in rule "
                f"{earlier['match']} of prefix {earlier['prefix']} on {earlier['rule']})."
            )
            out.append(message_for(obj, "Info", "IST0131", text, later["path"]))
    return out


def _rules(
    obj: VirtualService, section: str, rules: Sequence[tuple[str | None, Sequence[IstioModel]]]
) -> list[AnalysisMessage]:
    """The messages of one section (`http`, `tcp`, `tls`), each on the line of its rule or
    match."""
    out: list[AnalysisMessage] = []
    prefixes: list[dict[str, Any]] = []

    def unreachable(rule: str, reason: str, path: str) -> None:
        text = f"VirtualService rule {rule} not used ({reason})."
        out.append(message_for(obj, "Warning", "IST0130", text, path))

    seen: dict[str, int] = {}
    catch_all = -1
    for index, (name, matches) in enumerate(rules):
        rule = _named(name, index)
        at = f"spec.{section}[{index}]"
        if not matches:
            if catch_all >= 0:
                unreachable(rule, "only the last rule can have no matches", at)
            catch_all = index
            continue
        duplicates = 0
        for match_index, match in enumerate(matches):
            if catch_all >= 0:
                unreachable(rule, "route without matches defined before", at)
                continue
            key = _content(match)
            if key in seen:
                earlier = seen[key]
                text = (
                    f"VirtualService rule {rule} match "
                    f"{_named(getattr(match, 'name', None), match_index)} is not used "
                    f"(duplicate/overlapping match in rule {_named(rules[earlier][0], earlier)})."
                )
                out.append(message_for(obj, "Info", "IST0131", text, f"{at}.match[{match_index}]"))
                duplicates += 1
                continue
            seen[key] = index
            if isinstance(match, HTTPMatchRequest):
                found = _prefix_match(rule, match, match_index)
                if found is not None:
                    prefixes.append({**found, "path": f"{at}.match[{match_index}]"})
        if duplicates == len(matches):
            unreachable(rule, "all matches used by prior rules", at)
    return out + _overlapping_prefixes(obj, prefixes)


def unused_rules(vs: VirtualService) -> list[AnalysisMessage]:
    spec = vs.spec
    if not isinstance(spec, VirtualServiceSpec):
        return []
    http = [(r.name, r.match) for r in spec.http]
    tcp: list[tuple[str | None, Sequence[IstioModel]]] = [(None, r.match) for r in spec.tcp]
    tls: list[tuple[str | None, Sequence[IstioModel]]] = [(None, r.match) for r in spec.tls]
    return _rules(vs, "http", http) + _rules(vs, "tcp", tcp) + _rules(vs, "tls", tls)
