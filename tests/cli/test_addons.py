"""Istio's addon files recognised by `apply` (`cli.addons`)."""

from __future__ import annotations

from pathlib import Path

from pilotfish.cli.addons import addon_of, split_addons

ROOT = Path(__file__).resolve().parents[2]


def test_istios_prometheus_addon_is_recognised() -> None:
    text = (ROOT / "samples" / "addons" / "prometheus.yaml").read_text()
    assert addon_of(text) == "prometheus"


def test_a_deployment_of_the_same_name_elsewhere_is_an_app() -> None:
    mine = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: prometheus, namespace: web}\n"
    jaeger = mine.replace("prometheus, namespace: web", "jaeger, namespace: istio-system")
    assert addon_of(mine) is None
    keep, addons = split_addons([("a.yaml", mine), ("j.yaml", jaeger)])
    assert keep == [("a.yaml", mine)]
    assert addons == [("j.yaml", "jaeger")]
