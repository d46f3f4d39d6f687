"""Istio's Operations > Diagnostic Tools pages on one real Bookinfo mesh, with the pages' own
commands. "Debugging Envoy and Istiod": `proxy-status` with istioctl's columns, and `proxy-status
POD`, istioctl's diff between what the control plane would send the proxy and what its Envoy
loaded, which matches on a synced proxy and shows what a proxy refused. "Diagnose your
Configuration with Istioctl Analyze": `analyze -k` reads the cluster (here the running mesh),
`analyze -k FILES` the files as applied to it."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, columns, gateway_nacked, sync_states

NET = "samples/bookinfo/networking"
HEADER = ["NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES"]
VERBOSE = ["NAME", "CLUSTER", "CDS", "ECDS", "EDS", "LDS", "RDS", "ISTIOD", "VERSION"]
STATES = {"SYNCED", "NOT SENT", "STALE", "ERROR", "IGNORED"}


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> LocalMesh:
    """The bookinfo group's mesh (tests/e2e/shared_meshes.py); the tests delete what they
    apply."""
    assert shared_mesh.get("/productpage").status == 200  # productpage calls details, reviews
    return shared_mesh


def rows(mesh: LocalMesh, *args: str) -> dict[str, dict[str, str]]:
    """proxy-status's table by proxy ID (cut at the header's column starts)."""
    result = mesh.pilotfish("proxy-status", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.split(r" {2,}", result.stdout.splitlines()[0]) == HEADER, result.stdout
    return {row["NAME"]: row for row in columns(result.stdout)}


def test_proxy_status_has_istioctls_columns(mesh: LocalMesh) -> None:
    """Istio 1.27+'s table: NAME CLUSTER ISTIOD VERSION SUBSCRIBED TYPES."""
    table = rows(mesh)
    assert set(table) == {
        "istio-ingressgateway-0.istio-system",
        *(f"{w}-0.default" for w in ("details-v1", "productpage-v1", "ratings-v1")),
        *(f"reviews-v{n}-0.default" for n in (1, 2, 3)),
    }
    assert list(table) == sorted(table), list(table)  # istioctl sorts by proxy ID
    for row in table.values():
        assert row["CLUSTER"] == "Kubernetes" and row["ISTIOD"] == "istiod-0", row
        assert re.fullmatch(r"\d+\.\d+\.\d+", row["VERSION"]), row
        # CDS LDS EDS RDS in istioctl's order; EDS only once the sidecar holds an EDS cluster
        assert row["SUBSCRIBED TYPES"] in ("4 (CDS,LDS,EDS,RDS)", "3 (CDS,LDS,RDS)"), row
    assert table["productpage-v1-0.default"]["SUBSCRIBED TYPES"] == "4 (CDS,LDS,EDS,RDS)"
    assert set(rows(mesh, "-n", "istio-system")) == {"istio-ingressgateway-0.istio-system"}


def test_proxy_status_verbose_and_machine_readable(mesh: LocalMesh) -> None:
    """`-v 1`: a column per type (the known ones always), each state with its age; `-o json`:
    istiod's syncz answer, a ClientConfig per proxy."""
    result = mesh.pilotfish("proxy-status", "-v", "1")
    assert re.split(r" {2,}", result.stdout.splitlines()[0]) == VERBOSE, result.stdout
    states = sync_states(mesh)
    page = states["productpage-v1-0.default"]
    assert [page[t] for t in ("CDS", "EDS", "LDS", "RDS", "ECDS")] == ["SYNCED"] * 4 + ["IGNORED"]
    assert all({r[t] for t in VERBOSE[2:7]} <= STATES for r in states.values()), states
    aged = columns(result.stdout)[0]["CDS"]
    assert re.fullmatch(r"SYNCED \((\d+[smhd])+\)", aged), aged
    shown = mesh.pilotfish("proxy-status", "-o", "json", "-n", "istio-system")
    found = json.loads(shown.stdout)
    assert found["typeUrl"] == "istio.io/debug/syncz"
    # istiod's push version (RFC 3339 time "/" a count) and its nonce (that version, a UUID)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/[1-9]\d*", found["versionInfo"]), found
    assert found["nonce"].startswith(found["versionInfo"]) and len(found["nonce"]) == len(
        found["versionInfo"]
    ) + len("2c0fd5a4-7c0e-4a0f-9a2a-0e0c8c3b1d11"), found
    (config,) = found["resources"]
    assert config["@type"] == "type.googleapis.com/envoy.service.status.v3.ClientConfig"
    assert config["node"]["id"] == "istio-ingressgateway-0.istio-system"
    assert config["node"]["metadata"]["CLUSTER_ID"] == "Kubernetes"
    assert {c["configStatus"] for c in config["genericXdsConfigs"]} == {"SYNCED"}
    assert json.loads(found["controlPlane"]["identifier"])["ID"] == "istiod-0"
    wrong = mesh.pilotfish("proxy-status", "-i", "other")
    assert (wrong.returncode, wrong.stderr) == (1, 'Error: no running Istio pods in "other"\n')


@pytest.mark.parametrize(
    "proxy", ["productpage-v1-0.default", "details-v1-0", "istio-ingressgateway-0.istio-system"]
)
def test_the_diff_of_a_synced_proxy_matches(mesh: LocalMesh, proxy: str) -> None:
    """Once the proxy has ACKed what the control plane sent it (a readiness change of an
    endpoint's pod pushes again, e.g. the SANs of a cluster), its diff is empty."""
    _wait_synced(mesh, proxy)
    result = mesh.pilotfish("proxy-status", proxy)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Clusters Match", "Listeners Match"], result.stdout
    assert re.fullmatch(
        r"Routes Match \(RDS last loaded at \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \S+\)", lines[2]
    ), lines
    assert len(lines) == 3


def _wait_synced(mesh: LocalMesh, proxy: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        rows = sync_states(mesh)
        states = next((v for k, v in rows.items() if k == proxy or k.startswith(f"{proxy}.")), {})
        if states and all(states.get(t) == "SYNCED" for t in ("CDS", "LDS", "RDS")):
            return
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)


def test_the_diff_shows_the_listener_envoy_refused(mesh: LocalMesh, tmp_path: Path) -> None:
    with gateway_nacked(mesh, tmp_path) as (port, applied):  # Envoy cannot bind: NACK
        assert applied.returncode != 0
        gateway = "istio-ingressgateway-0.istio-system"
        assert sync_states(mesh)[gateway]["LDS"] == "ERROR"
        result = mesh.pilotfish("proxy-status", gateway)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith("Clusters Match\nListeners Don't Match\n--- Istiod Listeners\n")
        assert "\n+++ Envoy Listeners\n@@ -" in out, out
        # the listener only the control plane has, on the port Envoy could not bind
        assert f'-                "portValue": {port}\n' in out, out
        assert f'+                "portValue": {port}\n' not in out
        assert re.search(r"\nRoutes (Don't )?Match \(RDS last loaded at ", out), out
    again = mesh.pilotfish("proxy-status", gateway).stdout
    assert again.startswith("Clusters Match\nListeners Match\nRoutes Match"), again


def test_rds_is_stale_until_envoy_acks_a_route_change(mesh: LocalMesh) -> None:
    """A VirtualService changes productpage's routes (in local mode, virtual hosts it holds by
    VHDS): until its Envoy ACKs them, RDS says STALE, and SYNCED once it has."""
    pid = mesh.info["proxies"]["productpage-v1-0.default"]["envoy_pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        mesh.apply(f"{NET}/virtual-service-all-v1.yaml", expect_ok=False)
        assert sync_states(mesh)["productpage-v1-0.default"]["RDS"] == "STALE"
        assert sync_states(mesh)["details-v1-0.default"]["RDS"] == "SYNCED"
    finally:
        os.kill(pid, signal.SIGCONT)
    mesh.wait_for(
        lambda: sync_states(mesh)["productpage-v1-0.default"]["RDS"] == "SYNCED", what="the ACK"
    )
    mesh.pilotfish("delete", "-f", f"{NET}/virtual-service-all-v1.yaml")


def test_analyze_k_reads_the_mesh_and_simulates_applying_files(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/destination-rule-all.yaml")
    bare = mesh.pilotfish("analyze", "-k", "--namespace", "default")  # the page's first example
    assert bare.returncode == 79, bare.stdout + bare.stderr
    # the mesh's DestinationRule ratings has subsets no pod has (v2-mysql, v2-mysql-vm)
    assert "Error [IST0173] (DestinationRule default/ratings) The Subset v2-mysql " in bare.stdout
    assert mesh.pilotfish("analyze", "-k").stdout == bare.stdout
    vs = f"{NET}/virtual-service-all-v1.yaml"
    files_alone = mesh.pilotfish("analyze", "--use-kube=false", vs)
    assert 'subset in destinationrule not found: "reviews+v1"' in files_alone.stdout
    onto_mesh = mesh.pilotfish("analyze", "-k", vs)  # its subsets are the mesh's rules'
    assert onto_mesh.returncode == 79, onto_mesh.stdout + onto_mesh.stderr
    assert "IST0101" not in onto_mesh.stdout and "IST0173" in onto_mesh.stdout
    absent = mesh.pilotfish("analyze", "-n", "nosuch")  # istioctl: that line, nothing analysed
    assert (absent.returncode, absent.stdout, absent.stderr) == (
        0, "", 'namespace "nosuch" not found\n'
    ), absent  # fmt: skip
    mesh.pilotfish("delete", "-f", f"{NET}/destination-rule-all.yaml")


REVIEWS_CLUSTER = "outbound|9080||reviews.default.svc.cluster.local"


def test_the_pages_walk_from_listener_to_route_to_cluster_to_endpoints(mesh: LocalMesh) -> None:
    assert mesh.get("/productpage").status == 200  # productpage has called reviews
    pod = "productpage-v1-0"
    listeners = mesh.pilotfish("proxy-config", "listeners", pod)
    lines = listeners.stdout.splitlines()
    assert lines[0].split() == ["ADDRESSES", "PORT", "MATCH", "DESTINATION"], listeners.stdout
    ip = mesh.proxy(pod)["ip"]
    assert [ip, "15001", "ALL", "Route: http_proxy"] in [line.split(None, 3) for line in lines]
    # Istio's per-port names: local mode says where its one outbound listener and route are
    by_port = mesh.pilotfish("proxy-config", "listeners", pod, "-o", "json", "--port", "9080",
                             "--address", "0.0.0.0")  # fmt: skip
    assert by_port.stdout.strip() == "[]" and "`--port 15001`" in by_port.stderr
    by_name = mesh.pilotfish("proxy-config", "routes", pod, "--name", "9080", "-o", "json")
    assert by_name.stdout.strip() == "[]" and "`--name http_proxy`" in by_name.stderr
    (config,) = json.loads(
        mesh.pilotfish("proxy-config", "routes", pod, "--name", "http_proxy", "-o", "json").stdout
    )
    reviews = next(v for v in config["virtualHosts"] if "reviews:9080" in v["domains"])
    assert reviews["routes"][0]["route"]["cluster"] == REVIEWS_CLUSTER
    (cluster,) = json.loads(
        mesh.pilotfish(
            "proxy-config", "cluster", pod, "--fqdn", "reviews.default.svc.cluster.local",
            "-o", "json",
        ).stdout
    )  # fmt: skip
    assert cluster["name"] == REVIEWS_CLUSTER and cluster["type"] == "EDS"
    assert cluster["edsClusterConfig"]["serviceName"] == REVIEWS_CLUSTER
    endpoints = mesh.pilotfish("proxy-config", "endpoints", pod, "--cluster", REVIEWS_CLUSTER)
    rows = [line.split() for line in endpoints.stdout.splitlines()]
    assert rows[0] == ["ENDPOINT", "STATUS", "OUTLIER", "CHECK", "CLUSTER"], endpoints.stdout
    ips = {mesh.proxy(f"reviews-v{n}-0")["ip"] for n in (1, 2, 3)}
    assert sorted(rows[1:]) == sorted(
        [[f"{i}:9080", "HEALTHY", "OK", REVIEWS_CLUSTER] for i in ips]
    )
    ecds = mesh.pilotfish("proxy-config", "ecds", pod)  # nothing over ECDS: istioctl's error
    assert (ecds.returncode, ecds.stdout) == (1, ""), ecds
    assert ecds.stderr.startswith("Error: config dump has no configuration type "), ecds
    bootstrap = mesh.pilotfish(
        "proxy-config", "bootstrap", "-n", "istio-system", "istio-ingressgateway-0"
    )
    node = json.loads(bootstrap.stdout)["bootstrap"]["node"]
    assert node["id"].startswith("router~") and node["id"].endswith(
        ".istio-system~istio-system.svc.cluster.local"
    )


def test_the_cluster_table_names_the_destination_rule(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/destination-rule-all.yaml")
    assert mesh.get("/productpage").status == 200
    table = mesh.pilotfish("proxy-config", "cluster", "productpage-v1-0").stdout
    lines = table.splitlines()
    assert lines[0].split() == [
        "SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION", "RULE"
    ]  # fmt: skip
    reviews = [line.split() for line in lines if line.startswith("reviews.default.svc")]
    assert reviews and all(row[4:] == ["EDS", "reviews.default"] for row in reviews), table
    inbound = next(line.split() for line in lines if "inbound" in line)
    assert inbound[-1] == "STATIC", table  # no rule names an inbound cluster
    # `--fqdn` is a substring of the cluster's name; rows in istioctl's order, padded by 5
    short = mesh.pilotfish("proxy-config", "cluster", "productpage-v1-0", "--fqdn", "reviews")
    found = short.stdout.splitlines()
    picked = [line.split() for line in lines[1:] if "reviews" in line]
    assert [line.split() for line in found[1:]] == picked and picked, found
    assert found[0].startswith("SERVICE FQDN" + " " * 26 + "PORT     SUBSET     DIRECTION"), found
    mesh.pilotfish("delete", "-f", f"{NET}/destination-rule-all.yaml")


def test_version_prints_istioctls_lines(mesh: LocalMesh) -> None:
    """ "Using the Istioctl Command-line Tool" lists `istioctl version`: client, control plane,
    and the proxies' version with their count."""
    lines = mesh.pilotfish("version").stdout.splitlines()
    client = lines[0].removeprefix("client version: ")
    assert re.fullmatch(r"\d+\.\d+\.\d+", client), lines
    proxies = len(mesh.info["proxies"])
    assert lines[1:] == [
        f"control plane version: {client}",
        f"data plane version: {client} ({proxies} proxies)",
    ]
