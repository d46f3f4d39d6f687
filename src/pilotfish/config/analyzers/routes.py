"""VirtualService rules that can never be used: IST0130 (VirtualServiceUnreachableRule, Warning)
and IST0131 (VirtualServiceIneffectiveMatch, Info), for `http` and `tcp` rules as Istio does.

A rule is unreachable when it has no match and an earlier rule has none either ("only the last
rule can have no matches"), when an earlier rule has no match at all ("route without matches
defined before", once per match), or when every match repeats an earlier one ("all matches used
by prior rules"); each repeated match is IST0131. Matches compare by content, their `name`
aside. Rules and matches are named `"name"` when named, else `#index`. Istio's extra check of
overlapping URI prefixes is not done. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pilotfish.config.analyzers.messages import AnalysisMessage, message_for
from pilotfish.config.models.base import IstioModel
from pilotfish.config.models.networking import VirtualServiceSpec
from pilotfish.config.objects import VirtualService


def _named(name: str | None, index: int) -> str:
    return json.dumps(name) if name else f"#{index}"


def _content(match: IstioModel) -> str:
    data = match.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
    return json.dumps(data, sort_keys=True)


def _rules(
    obj: VirtualService, rules: Sequence[tuple[str | None, Sequence[IstioModel]]]
) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []

    def unreachable(rule: str, reason: str) -> None:
        text = f"VirtualService rule {rule} not used ({reason})."
        out.append(message_for(obj, "Warning", "IST0130", text))

    seen: dict[str, int] = {}
    catch_all = -1
    for index, (name, matches) in enumerate(rules):
        rule = _named(name, index)
        if not matches:
            if catch_all >= 0:
                unreachable(rule, "only the last rule can have no matches")
            catch_all = index
            continue
        duplicates = 0
        for match_index, match in enumerate(matches):
            if catch_all >= 0:
                unreachable(rule, "route without matches defined before")
                continue
            key = _content(match)
            if key in seen:
                earlier = seen[key]
                text = (
                    f"VirtualService rule {rule} match "
                    f"{_named(getattr(match, 'name', None), match_index)} is not used "
                    f"(duplicate/overlapping match in rule {_named(rules[earlier][0], earlier)})."
                )
                out.append(message_for(obj, "Info", "IST0131", text))
                duplicates += 1
                continue
            seen[key] = index
        if duplicates == len(matches):
            unreachable(rule, "all matches used by prior rules")
    return out


def unused_rules(vs: VirtualService) -> list[AnalysisMessage]:
    spec = vs.spec
    if not isinstance(spec, VirtualServiceSpec):
        return []
    http = [(r.name, r.match) for r in spec.http]
    tcp: list[tuple[str | None, Sequence[IstioModel]]] = [(None, r.match) for r in spec.tcp]
    return _rules(vs, http) + _rules(vs, tcp)
