"""`pilotfish describe` against a real Bookinfo mesh: what it says about a pod or service matches
what the Envoys really do with the same rules (the tests run in order, applying Istio's
request-routing and traffic-shifting rules one after another)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, http

NET = "samples/bookinfo/networking"


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> Iterator[LocalMesh]:
    """The bookinfo group's mesh (tests/e2e/shared_meshes.py), with no rule at first; the
    rules the tests apply deleted after the module."""
    yield shared_mesh
    rules = ("-f", f"{NET}/destination-rule-all.yaml", "-f", f"{NET}/virtual-service-all-v1.yaml")
    deleted = shared_mesh.pilotfish("delete", "--ignore-not-found", *rules)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def describe(mesh: LocalMesh, *args: str) -> list[str]:
    result = mesh.pilotfish("describe", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def block(lines: list[str], start: str) -> list[str]:
    """The line starting with `start` and the indented lines under it."""
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    rest = lines[first + 1 :]
    end = next((i for i, line in enumerate(rest) if not line.startswith(" ")), len(rest))
    return [lines[first], *rest[:end]]


def test_pod_without_rules(mesh: LocalMesh) -> None:
    lines = describe(mesh, "pod", "reviews-v2")
    assert lines[0] == "Pod: reviews-v2-0"
    assert "   Labels: app=reviews, version=v2" in lines
    # istioctl lists the sidecar's port too; it really is Envoy's Prometheus endpoint
    assert "   Pod Ports: 9080 (reviews), 15090 (istio-proxy)" in lines
    stats = http(f"http://{mesh.proxy('reviews-v2-0')['ip']}:15090/stats/prometheus")
    assert stats.status == 200 and "envoy_server_live" in stats.body
    sync = next(line for line in lines if line.startswith("   Sidecar sync: "))
    # on-demand clusters (the default): reviews-v2 has called nobody yet, so it holds no EDS
    # cluster and was never sent EDS (istioctl says NOT SENT too)
    assert "CDS SYNCED, LDS SYNCED, EDS NOT SENT, RDS SYNCED" in sync, sync
    assert block(lines, "Service: reviews") == [
        "Service: reviews",
        "   Port: http 9080/HTTP targets pod port 9080",
    ]
    assert not any(line.startswith(("DestinationRule", "VirtualService")) for line in lines)


def test_productpage_is_exposed_on_the_ingress_gateway(mesh: LocalMesh) -> None:
    lines = describe(mesh, "po", "productpage-v1-0")
    url = f"http://{mesh.ingress}:8080"
    assert f"Exposed on Ingress Gateway {url}" in lines
    assert block(lines, "VirtualService: bookinfo")[1] == "   Gateway: bookinfo-gateway"
    assert mesh.get("/productpage").status == 200  # the URL it names really serves the page


def test_jason_rule_as_described_and_as_served(mesh: LocalMesh) -> None:
    mesh.apply(
        f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-reviews-jason-v2-v3.yaml"
    )
    v2 = describe(mesh, "pod", "reviews-v2")
    assert block(v2, "DestinationRule") == [
        'DestinationRule: reviews for "reviews"',
        "   Matching subsets: v2",
        "      (Non-matching subsets v1,v3)",
        "   No Traffic Policy",
    ]
    assert block(v2, "VirtualService") == [
        "VirtualService: reviews",
        '   Route to host "reviews" subset "v2" with headers end-user=jason',
        "   1 additional destination(s) that will not reach this pod",
    ]
    v1 = block(describe(mesh, "pod", "reviews-v1-0"), "VirtualService")
    assert v1[1:] == [  # as Istio's describe page shows it
        "   WARNING: No destinations match pod subsets (checked 2 HTTP routes)",
        "      Route to non-matching subset v2 for (when headers are end-user=jason)",
        "      Route to non-matching subset v3 for (everything)",
    ]
    assert mesh.served_by(6, cookie=mesh.login("jason")) == {"reviews-v2-0": 6}
    assert mesh.served_by(6) == {"reviews-v3-0": 6}


def test_all_v1_as_described(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/virtual-service-all-v1.yaml")
    assert block(describe(mesh, "pod", "reviews-v1"), "VirtualService") == [
        "VirtualService: reviews",
        "   1 HTTP route(s)",
    ]
    assert block(describe(mesh, "pod", "reviews-v3"), "VirtualService") == [
        "VirtualService: reviews",
        "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)",
        "      Route to non-matching subset v1 for (everything)",
    ]
    assert mesh.served_by(6) == {"reviews-v1-0": 6}


def test_80_20_as_described_for_pods_and_service(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/virtual-service-reviews-80-20.yaml")
    assert block(describe(mesh, "pod", "reviews-v1"), "VirtualService")[1:] == ["   Weight 80%"]
    assert block(describe(mesh, "pod", "reviews-v2"), "VirtualService")[1:] == ["   Weight 20%"]
    service = describe(mesh, "svc", "reviews.default")
    assert "   Pods: reviews-v1-0, reviews-v2-0, reviews-v3-0" in service
    assert block(service, "VirtualService")[1:] == [
        '   Route to host "reviews" subset "v1" with weight 80%',
        '   Route to host "reviews" subset "v2" with weight 20%',
    ]
    assert set(mesh.served_by(30)) == {"reviews-v1-0", "reviews-v2-0"}


def test_unknown_names_and_no_mesh(mesh: LocalMesh, tmp_path: Path) -> None:
    result = mesh.pilotfish("describe", "pod", "reviews-v9")
    assert (result.returncode, result.stderr.strip()) == (1, 'Error: pods "reviews-v9" not found')
    result = mesh.pilotfish("describe", "svc", "nope")
    assert (result.returncode, result.stderr.strip()) == (1, 'Error: services "nope" not found')
    env = dict(mesh.env, PILOTFISH_HOME=str(tmp_path / "none"))
    result = subprocess.run(
        [sys.executable, "-m", "pilotfish", "describe", "pod", "reviews-v1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "error: no mesh is running" in result.stderr, result.stderr
