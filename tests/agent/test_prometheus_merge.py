"""Istio's injector on `prometheus.io/*` (`agent.metrics.merges`, `scrape_annotations`): which
pods it points at the agent's 15020, and what the others keep; and the mesh setting's parsing."""

from __future__ import annotations

from pilotfish.agent.metrics import merges, scrape_annotations
from pilotfish.registry.mesh_config import _prometheus_merge

APP = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/m"}
AGENT = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": "15020",
    "prometheus.io/path": "/stats/prometheus",
}


def test_merge_points_every_scrapable_pod_at_the_agent() -> None:
    assert scrape_annotations(APP, True) == AGENT
    assert scrape_annotations({}, True) == AGENT  # Istio annotates pods that say nothing too
    assert scrape_annotations({"prometheus.io/scrape": "false"}, True) == {
        "prometheus.io/scrape": "false"
    }


def test_without_merge_a_pod_keeps_its_own_annotations() -> None:
    assert scrape_annotations(APP | {"other": "x"}, False) == APP
    assert scrape_annotations({}, False) == {}
    assert scrape_annotations(APP, True, injected=False) == APP  # no sidecar, no injection


def test_the_pods_merge_annotation_wins() -> None:
    off = APP | {"prometheus.istio.io/merge-metrics": "false"}
    on = APP | {"prometheus.istio.io/merge-metrics": "true"}
    assert not merges(off, True) and merges(on, False)
    assert merges(APP | {"prometheus.istio.io/merge-metrics": "maybe"}, True)


def test_enable_prometheus_merge_is_a_boolean() -> None:
    errors: list[tuple[str, str]] = []
    assert _prometheus_merge({}, errors) is True
    assert _prometheus_merge({"enablePrometheusMerge": False}, errors) is False
    assert errors == []
    assert _prometheus_merge({"enablePrometheusMerge": "no"}, errors) is True
    assert errors == [("enablePrometheusMerge", "'no' is not a boolean")]
