"""An EnvoyFilter that patches what a sidecar would share (its outbound routes or service
clusters) in the control plane: the selected delta sidecar stops getting anything on demand and
gets its whole, patched configuration as its own (no VHDS, every virtual host); the other
sidecars keep sharing the unpatched parts on demand; deleting the EnvoyFilter gives the sidecar
back its on-demand configuration. Every snapshot published on the way passes the checks."""

from __future__ import annotations

from envoy.config.route.v3 import route_pb2
from tests.controlplane.scale_kit import MakeMesh, connect

from pilotfish.controlplane.core import ControlPlane
from pilotfish.type_urls import ROUTE

PATCH = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: outbound-header, namespace: %(ns)s}
spec:
  workloadSelector: {labels: {app: %(app)s}}
  configPatches:
  - applyTo: VIRTUAL_HOST
    match: {context: SIDECAR_OUTBOUND}
    patch:
      operation: MERGE
      value: {response_headers_to_add: [{header: {key: x-patched, value: "1"}}]}
"""


def _http_proxy(cp: ControlPlane, node_id: str) -> route_pb2.RouteConfiguration:
    config = cp.snapshots[node_id].messages(ROUTE)["http_proxy"]
    assert isinstance(config, route_pb2.RouteConfiguration)
    return config


def test_a_sidecar_whose_shared_parts_are_patched_gets_them_whole(
    on_demand_mesh: MakeMesh,
) -> None:
    cp, _, instances = on_demand_mesh(routes=True)
    selected = instances[0]
    other = next(i for i in instances if i.labels["app"] != selected.labels["app"])
    connect(cp, selected)
    connect(cp, other)
    assert _http_proxy(cp, selected.node_id).HasField("vhds")
    patch = PATCH % {"ns": selected.namespace, "app": selected.labels["app"]}
    result = cp.apply([("ef.yaml", patch)])
    assert result.ok, [str(d) for d in result.diagnostics]
    assert selected.node_id in result.affected
    assert not cp.generation_errors, cp.generation_errors
    config = _http_proxy(cp, selected.node_id)
    assert not config.HasField("vhds") and len(config.virtual_hosts) > 1
    assert all(
        "x-patched" in [h.header.key for h in vhost.response_headers_to_add]
        for vhost in config.virtual_hosts
    )
    assert cp.demand_hosts(selected.node_id, ("http_proxy/anything:80",)) == {}
    assert _http_proxy(cp, other.node_id).HasField("vhds")  # unpatched, on demand
    assert "x-patched" not in str(_http_proxy(cp, other.node_id))

    key = ("networking.istio.io", "EnvoyFilter", selected.namespace, "outbound-header")
    result = cp.delete([], [key])
    assert result.ok, [str(d) for d in result.diagnostics]
    assert not cp.generation_errors, cp.generation_errors
    back = _http_proxy(cp, selected.node_id)
    assert back.HasField("vhds") and "x-patched" not in str(back)
