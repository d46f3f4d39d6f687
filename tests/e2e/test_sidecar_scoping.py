"""The Sidecar resource on Bookinfo, through real Envoys: egress host scoping (measured as the
drop in virtual hosts and config-dump bytes Envoy holds; clusters come on demand, so a Sidecar
never adds any), workloadSelector, the root-namespace default
applying mesh-wide (outboundTrafficPolicy REGISTRY_ONLY), with the page still served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import http_server, proxy_get
from tests.e2e.meshctl import LocalMesh, http, running_mesh

REVIEWS_ONLY_RATINGS = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews}
spec:
  workloadSelector: {labels: {app: reviews}}
  egress:
  - hosts: ["./ratings.default.svc.cluster.local", "istio-system/*"]
"""

ROOT_REGISTRY_ONLY = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress:
  - hosts: ["*/*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    # with on-demand virtual hosts (the default) a sidecar holds only the virtual hosts it used,
    # so a Sidecar has none to take away: these cases measure Sidecar scoping of the full
    # route configuration (test_on_demand_routes covers virtual hosts on demand)
    env = {"PILOTFISH_ON_DEMAND_ROUTES": "false"}
    with running_mesh(tmp_path_factory, "samples/bookinfo", env=env) as mesh:
        yield mesh


def _envoy_config(mesh: LocalMesh, instance: str) -> tuple[int, int, int]:
    """(dynamic clusters, config_dump bytes, virtual hosts) as the instance's Envoy holds them."""
    ip = mesh.proxy(instance)["ip"]
    dump = http(f"http://{ip}:15000/config_dump?include_eds").body
    clusters = vhosts = 0
    for section in json.loads(dump)["configs"]:
        clusters += len(section.get("dynamic_active_clusters", []))
        for route in section.get("dynamic_route_configs", []):
            vhosts += len(route["route_config"].get("virtual_hosts", []))
    return clusters, len(dump.encode()), vhosts


def _service_clusters(mesh: LocalMesh, instance: str) -> set[str]:
    ip = mesh.proxy(instance)["ip"]
    dump = json.loads(http(f"http://{ip}:15000/config_dump").body)
    names = {
        c["cluster"]["name"]
        for section in dump["configs"]
        for c in section.get("dynamic_active_clusters", [])
    }
    return {n.split("|")[3] for n in names if n.startswith("outbound|")}


def test_egress_hosts_shrink_the_config_and_the_page_still_works(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    for _ in range(6):  # every reviews version calls (or not) ratings: clusters on demand
        assert mesh.get("/productpage").status == 200
    before = _envoy_config(mesh, "reviews-v2-0")
    other_before = _envoy_config(mesh, "productpage-v1-0")
    path = tmp_path / "sidecar.yaml"
    path.write_text(REVIEWS_ONLY_RATINGS)
    mesh.apply(str(path))
    mesh.wait_for(lambda: _envoy_config(mesh, "reviews-v2-0")[2] < before[2], what="scoping")
    after = _envoy_config(mesh, "reviews-v2-0")
    print(
        f"\nreviews-v2 Envoy: clusters {before[0]} -> {after[0]}, virtual hosts {before[2]} -> "
        f"{after[2]}, config_dump bytes {before[1]} -> {after[1]}"
    )
    # on-demand clusters: it held only what it called (ratings), which the Sidecar keeps, so
    # its cluster count may stay the same but never grows; its routes shrink
    assert after[0] <= before[0] and after[1] < before[1]
    assert _envoy_config(mesh, "productpage-v1-0")[2] == other_before[2]  # not selected
    pages = [mesh.get("/productpage").body for _ in range(12)]
    assert any('color="black"' in p for p in pages), "reviews-v2 must still reach ratings"
    assert _service_clusters(mesh, "reviews-v2-0") == {"ratings.default.svc.cluster.local"}


def test_root_namespace_sidecar_applies_mesh_wide(mesh: LocalMesh, tmp_path: Path) -> None:
    row = mesh.info["proxies"]["productpage-v1-0.default"]
    proxy = (row["ip"], row["outbound_port"])
    with http_server("outside") as (host, port):
        assert proxy_get(proxy, f"http://{host}:{port}/")[0] == 200
        path = tmp_path / "root.yaml"
        path.write_text(ROOT_REGISTRY_ONLY)
        mesh.apply(str(path))
        assert proxy_get(proxy, f"http://{host}:{port}/")[0] == 502
    assert mesh.get("/productpage").status == 200


def _entry(host: str, port: int, export: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: outside-api}}
spec:
  hosts: [outside-api.example]
  exportTo: {export}
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{{address: {host}}}]
  ports: [{{number: {port}, name: http, protocol: HTTP}}]
"""


def test_service_entry_export_to_decides_which_namespaces_reach_it(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """With REGISTRY_ONLY mesh-wide, a sidecar reaches a ServiceEntry's host only when the entry
    is exported to its namespace (Istio's exportTo); the gateway's Envoy holds its cluster only
    when exported to istio-system."""
    row = mesh.info["proxies"]["productpage-v1-0.default"]
    proxy = (row["ip"], row["outbound_port"])
    root = tmp_path / "root.yaml"
    root.write_text(ROOT_REGISTRY_ONLY)
    mesh.apply(str(root))
    cluster = "outbound|{port}||outside-api.example"
    with http_server("outside") as (host, port):
        url = f"http://outside-api.example:{port}/"
        entry = tmp_path / "entry.yaml"
        entry.write_text(_entry(host, port, "['istio-system']"))
        mesh.apply(str(entry))
        gateway = mesh.proxy("istio-ingressgateway-0")["ip"]
        dump = f"http://{gateway}:15000/config_dump?resource=dynamic_active_clusters"
        mesh.wait_for(lambda: cluster.format(port=port) in http(dump).body, what="gateway")
        assert proxy_get(proxy, url)[0] == 502  # not exported to default: unknown, blocked
        entry.write_text(_entry(host, port, "['.']"))
        mesh.apply(str(entry))
        mesh.wait_for(lambda: proxy_get(proxy, url)[0] == 200, what="exported to default")
        assert proxy_get(proxy, url)[2].startswith("outside")
        mesh.wait_for(lambda: cluster.format(port=port) not in http(dump).body, what="gateway")


def _mesh_default_export(namespaces: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
        f"data:\n  mesh: |\n    defaultServiceExportTo: {namespaces}\n"
    )


def test_mesh_default_service_export_to_scopes_an_entry_that_sets_none(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """MeshConfig's defaultServiceExportTo is the exportTo of a ServiceEntry that sets none:
    [".", "istio-system"] hides one of namespace `tools` from the default namespace's sidecars
    (REGISTRY_ONLY: blocked) and gives it to the gateway; ["*"] gives it to every namespace.
    (Bookinfo's own services stay visible to their namespace: ".")"""
    row = mesh.info["proxies"]["productpage-v1-0.default"]
    proxy = (row["ip"], row["outbound_port"])
    root = tmp_path / "root.yaml"
    root.write_text(ROOT_REGISTRY_ONLY)
    mesh.apply(str(root))
    settings = tmp_path / "mesh.yaml"
    settings.write_text(_mesh_default_export('[".", "istio-system"]'))
    mesh.apply(str(settings))
    try:
        with http_server("outside") as (host, port):
            url = f"http://defaulted-api.example:{port}/"
            entry = tmp_path / "entry.yaml"
            text = _entry(host, port, "[]").replace("outside-api", "defaulted-api")
            entry.write_text(text.replace("{name: defaulted-api}", "{name: x, namespace: tools}"))
            mesh.apply(str(entry))
            gateway = mesh.proxy("istio-ingressgateway-0")["ip"]
            dump = f"http://{gateway}:15000/config_dump?resource=dynamic_active_clusters"
            cluster = f"outbound|{port}||defaulted-api.example"
            mesh.wait_for(lambda: cluster in http(dump).body, what="gateway")
            assert proxy_get(proxy, url)[0] == 502  # the default hides it from `default`
            settings.write_text(_mesh_default_export('["*"]'))
            mesh.apply(str(settings))
            mesh.wait_for(lambda: proxy_get(proxy, url)[0] == 200, what="exported everywhere")
    finally:
        mesh.pilotfish("delete", "-f", str(settings))


def test_a_change_that_leaves_sidecars_no_endpoints_converges(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """defaultServiceExportTo: ["istio-system"] hides every service from Bookinfo's sidecars:
    they lose every EDS cluster, and Envoy drops its EDS watch and never answers the empty EDS
    response. `apply` must still see them converge (it waited for an EDS ACK that never comes)."""
    settings = tmp_path / "mesh.yaml"
    settings.write_text(_mesh_default_export('["istio-system"]'))
    try:
        hidden = mesh.pilotfish("apply", "-f", str(settings))
        assert hidden.returncode == 0, hidden.stderr
        assert "not converged" not in hidden.stdout + hidden.stderr, hidden.stdout
        assert "converged:" in hidden.stdout, hidden.stdout
        row = mesh.info["proxies"]["productpage-v1-0.default"]
        dump = f"http://{row['ip']}:15000/config_dump?resource=dynamic_active_clusters"
        assert "outbound|9080||reviews.default" not in http(dump).body
    finally:
        restored = mesh.pilotfish("delete", "-f", str(settings))
        assert "not converged" not in restored.stdout + restored.stderr, restored.stdout
