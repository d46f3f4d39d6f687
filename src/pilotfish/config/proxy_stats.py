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

Here the lists select what 15090 serves (`admin_filter`: one regular expression, Envoy admin's
`filter` parameter); Envoy's admin (15000) keeps every stat. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEAD_PREFIXES = ("reporter=",)
REQUIRED_PREFIXES = ("cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm")
TAIL_PREFIXES = ("component", "istio")
REQUIRED_SUFFIXES = ("rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied")
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


def admin_filter(user: StatsInclusion, pod_ips: tuple[str, ...]) -> str:
    """One regular expression (Envoy admin's `filter`, searched in each stat's name) that keeps
    the stats Istio's inclusion lists keep, with `user`'s entries (`{pod_ip}` expanded)."""

    def expand(values: tuple[str, ...] | None) -> list[str]:
        out = []
        for value in values or ():
            out += [value.replace(POD_IP, ip) for ip in pod_ips] if POD_IP in value else [value]
        return out

    prefixes = [*HEAD_PREFIXES, *expand(user.prefixes), *REQUIRED_PREFIXES, *TAIL_PREFIXES]
    suffixes = [*expand(user.suffixes), *REQUIRED_SUFFIXES]
    regexps = [*expand(user.regexps), *REQUIRED_REGEXPS]
    alternatives = [
        "^(?:" + "|".join(re.escape(p) for p in prefixes) + ")",
        "(?:" + "|".join(re.escape(s) for s in suffixes) + ")$",
        *(f"^(?:{r})$" for r in regexps),
    ]
    return "|".join(alternatives)
