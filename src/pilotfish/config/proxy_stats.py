"""Which of Envoy's own stats a proxy's Prometheus page (15090, and 15020 that merges it) shows,
as Istio decides it: Istio's metrics and the stats its bootstrap's inclusion lists name, not
every Envoy stat.

Istio's pilot-agent writes a `stats_matcher` inclusion list into Envoy's bootstrap:
- prefixes: `reporter=`, the user's, `cluster_manager`, `listener_manager`, `server`,
  `cluster.xds-grpc`, `wasm`, then `component` and `istio` (Istio's own metrics);
- suffixes: the user's, then `rbac.allowed`, `rbac.denied`, `shadow_allowed`, `shadow_denied`;
- regexps: the user's, then `vhost\\..*\\.route\\..*` (route `stat_prefix` stats).
The user's entries of each kind come from the pod annotation
`sidecar.istio.io/statsInclusionPrefixes|Suffixes|Regexps` (comma separated) when it is set,
else from ProxyConfig `proxyStatsMatcher.inclusionPrefixes|Suffixes|Regexps` (the pod's
`proxy.istio.io/config`, else the mesh's `defaultConfig`); `{pod_ip}` in an entry stands for
the pod's address. Like Istio's, the lists are read when the proxy starts.

As Istio's, the lists are Envoy's bootstrap `stats_matcher` (`stats_matcher`): Envoy never
creates a stat they leave out, so its admin (15000, `pilot-agent request GET stats`) shows only
those, and a proxy holding many clusters does not pay for ~100 stats per cluster, each named
through every `stats_tags` expression (a real Envoy applied 300 mTLS clusters in 4.7-4.9 s
without it, 0.42 s with it: BENCHMARKS, "Audit of issue 9"). 15090 asks the admin for the same
stats (`admin_filter`: one regular expression, the admin's `filter` parameter). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEAD_PREFIXES = ("reporter=",)
REQUIRED_PREFIXES = ("cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm")
TAIL_PREFIXES = ("component", "istio")
REQUIRED_SUFFIXES = (
    "rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied", "downstream_cx_active"
)  # fmt: skip
"""Istio's `requiredEnvoyStatsMatcherInclusionSuffixes`: RBAC's, and what draining reads."""
REQUIRED_REGEXPS = (r"vhost\..*\.route\..*",)
FIELD = "proxyStatsMatcher"
KINDS = {  # ProxyStatsMatcher field -> the pod annotation that overrides it
    "inclusionPrefixes": "sidecar.istio.io/statsInclusionPrefixes",
    "inclusionSuffixes": "sidecar.istio.io/statsInclusionSuffixes",
    "inclusionRegexps": "sidecar.istio.io/statsInclusionRegexps",
}
POD_IP = "{pod_ip}"


@dataclass(frozen=True)
class StatsInclusion:
    """The user's inclusion entries of one kind each (None: not set at that level)."""

    prefixes: tuple[str, ...] | None = None
    suffixes: tuple[str, ...] | None = None
    regexps: tuple[str, ...] | None = None

    def over(self, fallback: StatsInclusion) -> StatsInclusion:
        """Each kind this sets, else `fallback`'s."""
        return StatsInclusion(
            self.prefixes if self.prefixes is not None else fallback.prefixes,
            self.suffixes if self.suffixes is not None else fallback.suffixes,
            self.regexps if self.regexps is not None else fallback.regexps,
        )


NOT_SET = StatsInclusion()


def proxy_stats_matcher(inclusion: StatsInclusion) -> dict[str, list[str]]:
    """ProxyConfig `proxyStatsMatcher` (a map) of `inclusion`'s kinds that are set: what
    `stats_matcher_in` reads back."""
    values = (inclusion.prefixes, inclusion.suffixes, inclusion.regexps)
    return {name: list(v) for name, v in zip(KINDS, values, strict=True) if v is not None}


def _regexps_ok(values: tuple[str, ...], where: str, errors: list[tuple[str, str]]) -> bool:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            errors.append((where, f"{value!r} is not a regular expression: {exc}"))
            return False
    return True


def stats_matcher_in(config: Any, where: str, errors: list[tuple[str, str]]) -> StatsInclusion:
    """`proxyStatsMatcher` of a ProxyConfig map (`where`: its path, for errors)."""
    if not isinstance(config, dict) or FIELD not in config:
        return NOT_SET
    matcher = config[FIELD]
    if not isinstance(matcher, dict):
        errors.append((f"{where}.{FIELD}", "must be a map (ProxyStatsMatcher)"))
        return NOT_SET
    found: dict[str, tuple[str, ...] | None] = {}
    for name in KINDS:
        raw = matcher.get(name)
        path = f"{where}.{FIELD}.{name}"
        if raw is None:
            found[name] = None
        elif not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            errors.append((path, "must be a list of strings"))
            found[name] = None
        else:
            found[name] = tuple(raw)
    unknown = sorted(set(matcher) - set(KINDS))
    if unknown:
        errors.append((f"{where}.{FIELD}", f"unknown field(s) {', '.join(unknown)}"))
    regexps = found["inclusionRegexps"]
    if regexps is not None and not _regexps_ok(
        regexps, f"{where}.{FIELD}.inclusionRegexps", errors
    ):
        found["inclusionRegexps"] = None
    return StatsInclusion(*found.values())


def annotation_inclusion(
    annotations: Mapping[str, str], errors: list[tuple[str, str]]
) -> StatsInclusion:
    """The `sidecar.istio.io/statsInclusion*` annotations of a pod."""
    found: list[tuple[str, ...] | None] = []
    for annotation in KINDS.values():
        text = annotations.get(annotation)
        found.append(None if not text else tuple(v for v in text.split(",") if v))
    regexps = found[2]
    path = f"metadata.annotations[{KINDS['inclusionRegexps']}]"
    if regexps is not None and not _regexps_ok(regexps, path, errors):
        found[2] = None
    return StatsInclusion(*found)


@dataclass(frozen=True)
class InclusionLists:
    """A proxy's whole inclusion lists, Istio's order, the user's entries expanded."""

    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    regexps: tuple[str, ...]


def inclusion_lists(user: StatsInclusion, pod_ips: tuple[str, ...]) -> InclusionLists:
    """Istio's lists around `user`'s entries (`{pod_ip}` expanded to each of `pod_ips`)."""

    def expand(values: tuple[str, ...] | None) -> list[str]:
        out = []
        for value in values or ():
            if value:  # Envoy refuses an empty prefix, suffix or expression
                out += [value.replace(POD_IP, ip) for ip in pod_ips] if POD_IP in value else [value]
        return out

    return InclusionLists(
        (*HEAD_PREFIXES, *expand(user.prefixes), *REQUIRED_PREFIXES, *TAIL_PREFIXES),
        (*expand(user.suffixes), *REQUIRED_SUFFIXES),
        (*expand(user.regexps), *REQUIRED_REGEXPS),
    )


def stats_matcher(lists: InclusionLists) -> dict[str, Any]:
    """Envoy's `StatsMatcher` (bootstrap `stats_config.stats_matcher`, JSON) keeping exactly
    the stats the lists name, as pilot-agent's bootstrap template writes it."""
    patterns: list[dict[str, Any]] = [{"prefix": p} for p in lists.prefixes]
    patterns += [{"suffix": s} for s in lists.suffixes]
    patterns += [{"safe_regex": {"regex": r}} for r in lists.regexps]
    return {"inclusion_list": {"patterns": patterns}}


def admin_filter(lists: InclusionLists) -> str:
    """One regular expression (Envoy admin's `filter`, searched in each stat's name) that keeps
    the stats the lists keep."""
    alternatives = [
        "^(?:" + "|".join(re.escape(p) for p in lists.prefixes) + ")",
        "(?:" + "|".join(re.escape(s) for s in lists.suffixes) + ")$",
        *(f"^(?:{r})$" for r in lists.regexps),
    ]
    return "|".join(alternatives)
