"""`apply`'s notes for what the mesh stores but does not enforce (`config.unenforced`)."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.unenforced import CLASSIFY_HINT, unenforced_notes

LUA = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua, namespace: default}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND, listener: {filterChain: {filter: {name: %s}}}}
    patch: {operation: INSERT_BEFORE, value: {name: envoy.lua}}
"""
HCM = "envoy.filters.network.http_connection_manager"
STATS = "envoy.filters.network.http_connection_manager, subFilter: {name: istio.stats}"
VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}
"""


def notes(text: str) -> list[str]:
    return [str(d) for obj in load(text, "f.yaml").objects for d in unenforced_notes(obj)]


def test_every_envoy_filter_is_said_to_be_stored_but_not_applied() -> None:
    (note,) = notes(LUA % HCM)
    assert note.startswith("f.yaml:1: EnvoyFilter default/lua: stored but not applied"), note
    assert CLASSIFY_HINT not in note


def test_a_patch_of_istios_stats_filter_says_how_to_classify_here() -> None:
    (note,) = notes(LUA % STATS)
    assert note.endswith(CLASSIFY_HINT)
    assert "Telemetry" in note and "tagOverrides" in note


def test_enforced_kinds_get_no_note() -> None:
    assert notes(VS) == []
