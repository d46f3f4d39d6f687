"""On-demand virtual hosts (VHDS, `PILOTFISH_ON_DEMAND_ROUTES=true`) on Bookinfo, through real
Envoy sidecars: a sidecar's `http_proxy` route configuration starts with no service's virtual
host, a first request brings the virtual host of its Host (then its cluster), a VirtualService
change reaches the sidecars holding that virtual host (and `apply` reports their convergence),
and a host that is no service's is answered at once as the catch-all answers it.

The tests share one mesh and run in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from tests.e2e.meshctl import LocalMesh, running_mesh, sync_states

NET = "samples/bookinfo/networking"
REVIEWS = "http_proxy/reviews.default.svc.cluster.local:9080"
DETAILS = "http_proxy/details.default.svc.cluster.local:9080"
RATINGS = "http_proxy/ratings.default.svc.cluster.local:9080"
POD_LOCAL = "http_proxy/pod_local"
PRODUCTPAGE = "http_proxy/productpage.default.svc.cluster.local:9080"
FETCH = (
    "import urllib.request,urllib.error,sys,time\n"
    "t=time.monotonic()\n"
    "d=sys.argv[2].encode() if len(sys.argv) > 2 else None\n"
    "try:\n"
    "    r=urllib.request.urlopen(sys.argv[1], d, timeout=20); s=r.status; b=r.read().decode()\n"
    "except urllib.error.HTTPError as e:\n"
    "    s=e.code; b=e.read().decode()\n"
    "print(s, round((time.monotonic()-t)*1000), b[:300].replace(chr(10),' '))\n"
)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    env = {"PILOTFISH_ON_DEMAND_ROUTES": "true"}
    with running_mesh(tmp_path_factory, "samples/bookinfo", env=env) as started:
        yield started


def vhosts(mesh: LocalMesh, pod: str) -> dict[str, dict[str, object]]:
    """The virtual hosts of the pod's Envoy's `http_proxy` route configuration, by name, as its
    config_dump shows them (`proxy-config route -o json`: istioctl's list of route
    configurations, protojson field names)."""
    result = mesh.pilotfish("proxy-config", "route", pod, "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    found: dict[str, dict[str, object]] = {}
    for config in json.loads(result.stdout):
        if config.get("name") == "http_proxy":
            found.update({v["name"]: v for v in config.get("virtualHosts", [])})
    return found


def exec_fetch(mesh: LocalMesh, pod: str, url: str, *body: str) -> tuple[int, int, str]:
    """(status, milliseconds, start of the body) of a GET (a POST of `body`) from inside `pod`
    (its sidecar is its HTTP proxy; redirects are followed)."""
    result = mesh.pilotfish("exec", pod, "--", "python3", "-c", FETCH, url, *body)
    assert result.returncode == 0, result.stdout + result.stderr
    status, millis, text = [*result.stdout.strip().split(" ", 2), "", ""][:3]
    return int(status), int(millis), text


def test_sidecars_start_with_no_service_virtual_host(mesh: LocalMesh) -> None:
    for pod in ("productpage-v1", "reviews-v2", "ratings-v1"):
        assert set(vhosts(mesh, pod)) == {POD_LOCAL}, pod
    table = mesh.pilotfish("proxy-config", "route", "productpage-v1")
    assert "http_proxy" in table.stdout and "pod_local" in table.stdout, table.stdout
    assert "reviews.default" not in table.stdout, table.stdout


def test_first_request_brings_the_virtual_hosts_it_needs(mesh: LocalMesh) -> None:
    started = time.monotonic()
    first = mesh.get("/productpage")
    first_ms = (time.monotonic() - started) * 1000
    assert first.status == 200 and "Reviews served by:" in first.body, first.body[-600:]
    assert "Error fetching" not in first.body, first.body[-600:]
    later = []
    for _ in range(5):
        started = time.monotonic()
        assert mesh.get("/productpage").status == 200
        later.append((time.monotonic() - started) * 1000)
    print(f"first /productpage {first_ms:.0f} ms, then {min(later):.0f} ms")
    held = vhosts(mesh, "productpage-v1")
    assert set(held) == {POD_LOCAL, REVIEWS, DETAILS}, sorted(held)
    assert "reviews:9080" in held[REVIEWS]["domains"], held[REVIEWS]  # type: ignore[operator]
    assert set(vhosts(mesh, "details-v1")) == {POD_LOCAL}  # called nobody


def test_a_virtual_service_change_reaches_the_holders(mesh: LocalMesh) -> None:
    mesh.apply(f"{NET}/destination-rule-all.yaml")
    result = mesh.apply(f"{NET}/virtual-service-all-v1.yaml")
    assert "converged:" in result.stdout and "NACK" not in result.stdout, result.stdout
    seen = set(mesh.served_by(20))
    assert seen == {"reviews-v1-0"}, seen
    routes = vhosts(mesh, "productpage-v1")[REVIEWS]["routes"]
    assert "v1|reviews" in json.dumps(routes), routes
    result = mesh.apply(f"{NET}/virtual-service-reviews-v3.yaml")
    assert "converged:" in result.stdout, result.stdout
    assert set(mesh.served_by(20)) == {"reviews-v3-0"}
    assert "v3|reviews" in json.dumps(vhosts(mesh, "productpage-v1")[REVIEWS]["routes"])
    assert set(vhosts(mesh, "details-v1")) == {POD_LOCAL}  # nothing pushed it a virtual host


def test_every_name_of_a_service_is_answered(mesh: LocalMesh) -> None:
    for url in (
        "http://ratings:9080/ratings/0",
        "http://ratings.default.svc.cluster.local:9080/ratings/0",
        "http://RATINGS.default:9080/ratings/0",
    ):
        status, _, body = exec_fetch(mesh, "details-v1", url)
        assert status == 200 and "ratings" in body, (url, status, body)
    assert set(vhosts(mesh, "details-v1")) == {POD_LOCAL, RATINGS}


def test_a_host_no_service_has_is_answered_as_the_catch_all_does(mesh: LocalMesh) -> None:
    status, millis, body = exec_fetch(mesh, "details-v1", "http://no-such-host.invalid:8000/")
    print(f"unknown host: {status} in {millis} ms: {body[:80]}")
    assert status >= 500 and millis < 3000, (status, millis, body)
    held = vhosts(mesh, "details-v1")
    unknown = held.get("http_proxy/no-such-host.invalid:8000")
    assert unknown is not None, sorted(held)
    assert unknown["domains"] == ["no-such-host.invalid:8000"], unknown
    assert "PassthroughCluster" in json.dumps(unknown["routes"]), unknown  # ALLOW_ANY
    again = exec_fetch(mesh, "details-v1", "http://no-such-host.invalid:8000/")
    assert again[0] == status, again


def test_a_first_request_with_a_body_reaches_the_service(mesh: LocalMesh) -> None:
    assert PRODUCTPAGE not in vhosts(mesh, "ratings-v1")
    form = "username=jason&passwd=x&" + "pad=" + "x" * 5000  # Envoy buffers it meanwhile
    status, _, body = exec_fetch(mesh, "ratings-v1", "http://productpage:9080/login", form)
    assert status == 200, (status, body)  # 302 to /productpage from the app, then the page
    assert PRODUCTPAGE in vhosts(mesh, "ratings-v1")


def test_deleting_the_rule_goes_back_to_every_version(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("delete", "-f", f"{NET}/virtual-service-reviews-v3.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    mesh.wait_for(
        lambda: set(mesh.served_by(30)) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"},
        timeout=20,
        what="round robin over every version",
    )
    states = {s for row in sync_states(mesh).values() for s in row.values()}
    assert not states & {"STALE", "ERROR"}, states
