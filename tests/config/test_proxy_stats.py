"""Istio's stats inclusion lists (`config.proxy_stats`): where the user's entries come from, and
the one regular expression 15090 hands Envoy's admin, checked on real stat names."""

from __future__ import annotations

import re

from pilotfish.config.proxy_stats import (
    NOT_SET,
    StatsInclusion,
    admin_filter,
    annotation_inclusion,
    inclusion_lists,
    stats_matcher,
    stats_matcher_in,
)
from pilotfish.registry.drain import annotation_stats_inclusion

KEPT = (
    "server.live",
    "cluster_manager.active_clusters",
    "listener_manager.total_listeners_active",
    "cluster.xds-grpc.upstream_rq_total",
    "http.inbound_0.0.0.0_9080.rbac.allowed",
    "http.inbound_0.0.0.0_9080.istio_dry_run_allow_shadow_denied",
    "listener.0.0.0.0_15006.downstream_cx_active",
    "vhost.reviews.route.r1.upstream_rq_completed",
    "istio.requests_total.pilotfish_fixed.x",
    "component.proxy.tag.1_0.istio_build",
    "wasm.envoy.wasm.runtime.null.active",
)
DROPPED = (
    "cluster.outbound|9080||reviews.default.svc.cluster.local;.upstream_rq_total",
    "http.outbound_http_proxy.downstream_rq_total",
    "listener.127.1.0.2_9080.downstream_cx_total",
    "runtime.load_success",
    "myserver.live",
)


def _keeps(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None  # Envoy's admin searches each stat's name


def test_istios_lists_keep_its_stats_and_drop_the_rest() -> None:
    pattern = admin_filter(inclusion_lists(NOT_SET, ("127.1.0.2",)))
    assert [n for n in KEPT if not _keeps(pattern, n)] == []
    assert [n for n in DROPPED if _keeps(pattern, n)] == []


def test_the_users_entries_add_to_the_required_ones_with_the_pod_ip() -> None:
    user = StatsInclusion(
        ("cluster.outbound", "listener.{pod_ip}_"), ("downstream_rq_total",), None
    )
    pattern = admin_filter(inclusion_lists(user, ("127.1.0.2",)))
    assert (
        _keeps(pattern, DROPPED[0]) and _keeps(pattern, DROPPED[1]) and _keeps(pattern, DROPPED[2])
    )
    assert _keeps(pattern, "server.live") and not _keeps(pattern, "runtime.load_success")
    regexps = admin_filter(inclusion_lists(StatsInclusion(regexps=("runtime\\..*",)), ()))
    assert _keeps(regexps, "runtime.load_success") and not _keeps(regexps, "x.runtime.y")


def test_annotations_win_per_kind_over_the_pods_proxy_config_over_the_mesh() -> None:
    annotations = {
        "sidecar.istio.io/statsInclusionPrefixes": "a.,b.",
        "proxy.istio.io/config": "proxyStatsMatcher:\n  inclusionPrefixes: [c.]\n"
        "  inclusionSuffixes: [_d]\n",
    }
    errors: list[tuple[str, str]] = []
    pod = annotation_stats_inclusion(annotations, errors)
    mesh = StatsInclusion(("m.",), ("_m",), ("m.*",))
    assert pod.over(mesh) == StatsInclusion(("a.", "b."), ("_d",), ("m.*",))
    assert errors == []


def test_bad_matchers_are_reported_with_their_path() -> None:
    errors: list[tuple[str, str]] = []
    config = {"proxyStatsMatcher": {"inclusionRegexps": ["("], "inclusionPrefix": ["x"]}}
    assert stats_matcher_in(config, "defaultConfig", errors) == NOT_SET
    assert [path for path, _ in errors] == [
        "defaultConfig.proxyStatsMatcher",
        "defaultConfig.proxyStatsMatcher.inclusionRegexps",
    ]
    assert "unknown field(s) inclusionPrefix" in errors[0][1]
    errors.clear()
    stats_matcher_in({"proxyStatsMatcher": {"inclusionSuffixes": "x"}}, "p", errors)
    assert errors == [("p.proxyStatsMatcher.inclusionSuffixes", "must be a list of strings")]
    errors.clear()
    annotation_inclusion({"sidecar.istio.io/statsInclusionRegexps": "a,("}, errors)
    assert errors[0][0] == "metadata.annotations[sidecar.istio.io/statsInclusionRegexps]"


def _matcher_keeps(matcher: dict[str, object], name: str) -> bool:
    """Envoy's StatsMatcher inclusion list: a prefix, a suffix or a whole-name expression."""
    patterns = matcher["inclusion_list"]["patterns"]  # type: ignore[index]
    return any(
        ("prefix" in p and name.startswith(p["prefix"]))
        or ("suffix" in p and name.endswith(p["suffix"]))
        or ("safe_regex" in p and re.fullmatch(p["safe_regex"]["regex"], name) is not None)
        for p in patterns
    )


def test_the_bootstraps_stats_matcher_keeps_what_the_filter_keeps() -> None:
    """Envoy creates only the stats the bootstrap's matcher keeps (as Istio's pilot-agent writes
    it): the same ones 15090's filter asks for, the user's entries and empty ones included."""
    user = StatsInclusion(("cluster.outbound", "", "listener.{pod_ip}_"), ("_total",), ("a\\.b",))
    for inclusion in (NOT_SET, user):
        lists = inclusion_lists(inclusion, ("127.1.0.2",))
        matcher, pattern = stats_matcher(lists), admin_filter(lists)
        for name in (*KEPT, *DROPPED, "a.b", "xa.b"):
            assert _matcher_keeps(matcher, name) == _keeps(pattern, name), name
        patterns = matcher["inclusion_list"]["patterns"]
        assert all(v for p in patterns for v in p.values()), patterns
