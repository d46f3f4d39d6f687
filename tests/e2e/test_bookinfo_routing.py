"""Bookinfo through real Envoy sidecars and a real ingress gateway: Istio's routing tasks.

The tests in this module share one mesh and run in order, as a user would walk through Istio's
"request routing" and "traffic shifting" tasks. Sidecars get their outbound clusters on demand
(pilotfish's default, translate.on_demand): they start with none, a first request to a service
is held by Envoy's on-demand filter until its cluster arrives, and from then on a sidecar holds
the clusters it called and nothing else; gateways hold everything.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from tests.e2e.meshctl import LocalMesh, http, sync_states

from pilotfish.local.app_ports import block_ports, ephemeral_start

NET = "samples/bookinfo/networking"


def service_clusters(mesh: LocalMesh, pod: str) -> set[str]:
    """The outbound service hosts whose clusters the pod's Envoy holds (`proxy-config`)."""
    result = mesh.pilotfish("proxy-config", "cluster", pod)
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        line.split()[0]
        for line in result.stdout.splitlines()
        if len(line.split()) >= 5 and line.split()[3] == "outbound"
    }


def page_ok(body: str) -> bool:
    return "Reviews served by:" in body and "Error fetching" not in body


def test_sidecars_start_with_no_service_cluster(bookinfo: LocalMesh) -> None:
    for pod in ("productpage-v1", "reviews-v2", "ratings-v1"):
        assert service_clusters(bookinfo, pod) == set(), pod
    gateway = bookinfo.pilotfish("proxy-config", "cluster", "istio-ingressgateway.istio-system")
    assert "productpage.default.svc.cluster.local" in gateway.stdout  # gateways: everything


def listening_inode(port: int) -> str:
    """The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp), or ''."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A":  # TCP_LISTEN
            return fields[9]
    return ""


def test_each_app_itself_listens_on_a_port_of_the_meshs_own(bookinfo: LocalMesh) -> None:
    """Each sidecar's app holds its own listening socket on a port of the mesh's range that no
    other instance has (`local.app_ports`). In CI on 987b075 two apps had drawn one port: the
    one that lost restarted in vain, and its sidecar sent its traffic to the other app."""
    seen = []
    for pod, row in bookinfo.info["proxies"].items():
        if not row["sidecar"] or row["type"] != "sidecar":
            continue
        own = block_ports(int(row["ip"].split(".")[1]), ephemeral_start())
        fds = Path(f"/proc/{row['app_pid']}/fd")
        sockets = {str(os.readlink(fd)) for fd in fds.iterdir()}
        for port in row["app_ports"].values():
            assert port in own, (pod, port, own)
            assert f"socket:[{listening_inode(port)}]" in sockets, (pod, port)
            seen.append(port)
    assert len(seen) >= 6 and len(seen) == len(set(seen)), seen


def test_first_request_succeeds_and_brings_only_the_called_clusters(bookinfo: LocalMesh) -> None:
    started = time.monotonic()
    first = bookinfo.get("/productpage")
    first_seconds = time.monotonic() - started
    assert first.status == 200 and page_ok(first.body), first.body[-600:]
    later = []
    for _ in range(5):
        started = time.monotonic()
        assert page_ok(bookinfo.get("/productpage").body)
        later.append(time.monotonic() - started)
    print(f"first /productpage {first_seconds * 1000:.0f} ms, then {min(later) * 1000:.0f} ms")
    called = {"details.default.svc.cluster.local", "reviews.default.svc.cluster.local"}
    assert service_clusters(bookinfo, "productpage-v1") == called


def test_no_rules_round_robin_over_all_versions(bookinfo: LocalMesh) -> None:
    seen = bookinfo.served_by(30)
    assert set(seen) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, seen
    ratings = {"ratings.default.svc.cluster.local"}  # on demand: what each sidecar called
    assert service_clusters(bookinfo, "reviews-v2") == ratings
    assert service_clusters(bookinfo, "reviews-v3") == ratings
    assert service_clusters(bookinfo, "reviews-v1") == set()  # v1 shows no stars: calls nobody
    assert service_clusters(bookinfo, "details-v1") == set()


def test_productpage_shows_stars_per_version(bookinfo: LocalMesh) -> None:
    pages = {}
    for _ in range(30):
        body = bookinfo.get("/productpage").body
        served = body.split("Reviews served by:", 1)[1][:60]
        pages[served.split("<u>")[1].split("</u>")[0]] = body
    assert 'color="black"' in pages["reviews-v2-0"] and 'color="red"' not in pages["reviews-v2-0"]
    assert 'color="red"' in pages["reviews-v3-0"]
    assert 'color="' not in pages["reviews-v1-0"]


def test_all_v1(bookinfo: LocalMesh) -> None:
    result = bookinfo.apply(
        f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-all-v1.yaml"
    )
    assert "converged:" in result.stdout, result.stdout
    assert bookinfo.served_by(20) == {"reviews-v1-0": 20}


def test_jason_gets_v2_others_v3(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/virtual-service-reviews-jason-v2-v3.yaml")
    cookie = bookinfo.login("jason")
    assert bookinfo.served_by(10, cookie=cookie) == {"reviews-v2-0": 10}
    assert bookinfo.served_by(10) == {"reviews-v3-0": 10}
    other = bookinfo.login("kim")
    assert bookinfo.served_by(5, cookie=other) == {"reviews-v3-0": 5}
    # each subset's cluster came with the first request routed to it; still only what
    # productpage called
    hosts = service_clusters(bookinfo, "productpage-v1")
    assert hosts == {"details.default.svc.cluster.local", "reviews.default.svc.cluster.local"}


def test_80_20_split_over_1000_requests(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/virtual-service-reviews-80-20.yaml")
    seen = bookinfo.served_by(1000, workers=8)
    assert set(seen) == {"reviews-v1-0", "reviews-v2-0"}, seen
    share_v1 = seen["reviews-v1-0"] / 1000
    assert 0.75 <= share_v1 <= 0.85, seen


def test_invalid_file_is_rejected_whole_and_traffic_carries_on(
    bookinfo: LocalMesh, tmp_path: Path
) -> None:
    bookinfo.apply(f"{NET}/virtual-service-reviews-v3.yaml")
    assert bookinfo.served_by(5) == {"reviews-v3-0": 5}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        "  name: ratings\n"
        "spec:\n"
        "  hosts: [ratings]\n"
        "  http:\n"
        "  - route:\n"
        "    - destination: {host: ratings, subset: v1}\n"
        "---\n"
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        "  name: reviews\n"
        "spec:\n"
        "  hosts: [reviews]\n"
        "  http:\n"
        "  - route:\n"
        "    - destination: {host: reviews, subset: v1}\n"
        "      weight: 50\n"
        "    - destination: {host: reviews, subset: v2}\n"
        "      weight: -50\n"
    )
    before = bookinfo.pilotfish("get", "vs", "reviews", "-o", "yaml").stdout
    result = bookinfo.apply(str(bad), expect_ok=False)
    assert result.returncode != 0
    assert f"{bad}:22" in result.stderr, result.stderr
    assert "spec.http[0].route[1].weight" in result.stderr, result.stderr
    assert bookinfo.pilotfish("get", "vs", "reviews", "-o", "yaml").stdout == before
    assert bookinfo.served_by(5) == {"reviews-v3-0": 5}


def test_deleting_the_rule_restores_round_robin(bookinfo: LocalMesh) -> None:
    result = bookinfo.pilotfish("delete", "-f", f"{NET}/virtual-service-all-v1.yaml")
    assert result.returncode == 0, result.stderr
    assert 'virtualservice.networking.istio.io "reviews" deleted' in result.stdout
    seen = bookinfo.served_by(30)
    assert set(seen) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}, seen
    ratings = {"ratings.default.svc.cluster.local"}  # on demand: what each sidecar called
    assert service_clusters(bookinfo, "reviews-v2") == ratings
    assert service_clusters(bookinfo, "reviews-v3") == ratings
    assert service_clusters(bookinfo, "reviews-v1") == set()  # v1 shows no stars: calls nobody
    assert service_clusters(bookinfo, "details-v1") == set()


def test_exec_reaches_services_by_name_through_the_sidecar(bookinfo: LocalMesh) -> None:
    code = (
        "import urllib.request,sys; r=urllib.request.urlopen(sys.argv[1]); "
        "print(r.status, r.read().decode())"
    )
    for url in (
        "http://reviews:9080/reviews/0",
        "http://reviews.default.svc.cluster.local:9080/reviews/0",
    ):
        result = bookinfo.pilotfish("exec", "productpage-v1", "--", "python3", "-c", code, url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("200 ") and '"podname"' in result.stdout, result.stdout


def test_applying_a_workload_starts_it_and_exec_uses_its_sidecar(bookinfo: LocalMesh) -> None:
    result = bookinfo.apply("samples/sleep/sleep.yaml")
    assert "workload.pilotfish.io/sleep created" in result.stdout, result.stdout
    bookinfo.wait_for(lambda: "sleep-0.default" in bookinfo.info["proxies"], what="sleep to start")
    bookinfo.wait_for(
        lambda: bookinfo.pilotfish("exec", "sleep", "--", "true").returncode == 0,
        what="sleep to be reachable",
    )
    curl = bookinfo.pilotfish(
        "exec", "sleep", "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
        "http://productpage:9080/productpage",
    )  # fmt: skip
    assert curl.stdout == "200", curl.stdout + curl.stderr
    stats = bookinfo.info["proxies"]["sleep-0.default"]
    assert stats["namespace"] == "default"
    result = bookinfo.pilotfish("delete", "-f", "samples/sleep/sleep.yaml")
    assert result.returncode == 0, result.stderr
    bookinfo.wait_for(
        lambda: "sleep-0.default" not in bookinfo.info["proxies"], what="sleep to stop"
    )


def test_proxy_status_and_proxy_config_show_what_envoy_holds(bookinfo: LocalMesh) -> None:
    bookinfo.apply(f"{NET}/destination-rule-all.yaml")
    assert bookinfo.get("/productpage").status == 200  # productpage's clusters come on demand
    states = sync_states(bookinfo)  # `proxy-status -v 1`: a column per xDS type
    assert len(states) == 7, states
    # a sidecar that never called a service holds no EDS cluster (on-demand clusters), so it
    # never subscribed to EDS (IGNORED) or was never sent any (NOT SENT)
    assert all([r["CDS"], r["LDS"], r["RDS"]] == ["SYNCED"] * 3 for r in states.values()), states
    assert all(r["EDS"] in ("SYNCED", "NOT SENT", "IGNORED") for r in states.values()), states
    rows = [[name, r["EDS"]] for name, r in states.items()]
    for name, eds in rows:
        held = bookinfo.pilotfish("proxy-config", "endpoint", name).stdout
        has_outbound = any("outbound|" in line for line in held.splitlines())
        assert has_outbound == (eds == "SYNCED"), (states, held)
    assert {row[0].split("-")[0] for row in rows if row[1] == "SYNCED"} >= {
        "productpage",
        "istio",
    }, states
    clusters = bookinfo.pilotfish("proxy-config", "cluster", "productpage-v1")
    assert clusters.returncode == 0, clusters.stderr
    subsets = {
        tuple(line.split()[:3])
        for line in clusters.stdout.splitlines()
        if line.startswith("reviews.default.svc.cluster.local")
    }
    assert subsets == {
        ("reviews.default.svc.cluster.local", "9080", s) for s in ("-", "v1", "v2", "v3")
    }, clusters.stdout
    endpoints = bookinfo.pilotfish("proxy-config", "endpoint", "productpage-v1").stdout
    reviews_ips = {
        bookinfo.info["proxies"][f"reviews-{v}-0.default"]["ip"] for v in ("v1", "v2", "v3")
    }
    assert {ip for ip in reviews_ips if f"{ip}:9080" in endpoints} == reviews_ips, endpoints


def _table(mesh: LocalMesh, *args: str) -> list[list[str]]:
    """A `proxy-config` table's rows, split on its column gaps (two spaces or more)."""
    result = mesh.pilotfish("proxy-config", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()[1:]]


def test_proxy_config_names_the_rules_each_route_and_cluster_came_from(bookinfo: LocalMesh) -> None:
    """As istioctl reads them from the proxy's config dump: the reviews routes' VIRTUAL SERVICE
    and the reviews clusters' DESTINATION RULE are the `istio` metadata Envoy holds (routes and
    clusters made from no rule: empty), and `-o json` shows that metadata."""
    bookinfo.apply(f"{NET}/virtual-service-reviews-test-v2.yaml")  # DestinationRules: above
    assert page_ok(bookinfo.get("/productpage").body)  # productpage's routes come on demand
    vhost = "reviews.default.svc.cluster.local:9080"
    routes = _table(bookinfo, "routes", "productpage-v1")
    reviews = [row for row in routes if row[1].endswith(vhost)]  # `http_proxy/…` (on demand)
    assert len(reviews) == 2, routes  # jason's, then everyone else's
    assert all(row[-1] == "reviews.default" for row in reviews), routes
    details = [row for row in routes if row[1].endswith("details.default.svc.cluster.local:9080")]
    assert details and all(len(row) == 4 for row in details), routes  # no VirtualService
    gateway = _table(bookinfo, "routes", "istio-ingressgateway.istio-system")
    assert {row[-1] for row in gateway if row[0] == "http.8080"} == {"bookinfo.default"}, gateway
    clusters = _table(bookinfo, "cluster", "productpage-v1")
    rules = {(row[0], row[2]): row[-1] for row in clusters if row[3] == "outbound"}
    for subset in ("-", "v1", "v2", "v3"):
        assert rules[("reviews.default.svc.cluster.local", subset)] == "reviews.default", clusters
    assert rules[("details.default.svc.cluster.local", "-")] == "details.default", clusters
    fqdn = ("--fqdn", "reviews.default.svc.cluster.local", "--subset", "v2", "-o", "json")
    dumped = bookinfo.pilotfish("proxy-config", "cluster", "productpage-v1", *fqdn)
    assert dumped.returncode == 0, dumped.stderr
    (cluster,) = json.loads(dumped.stdout)
    assert cluster["metadata"]["filterMetadata"]["istio"] == {
        "config": "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews",
        "services": [
            {
                "host": "reviews.default.svc.cluster.local",
                "name": "reviews",
                "namespace": "default",
            }
        ],
        "subset": "v2",
    }


def test_scaling_a_workload_adds_an_endpoint(bookinfo: LocalMesh, tmp_path: Path) -> None:
    bookinfo.apply(f"{NET}/virtual-service-all-v1.yaml")
    manifest = (Path("samples/bookinfo/bookinfo.yaml")).read_text()
    workload = next(doc for doc in manifest.split("\n---\n") if "name: reviews-v1\n" in doc)
    scaled = workload.replace("replicas: 1", "replicas: 2").replace(
        "spec:\n", f"spec:\n  workingDir: {Path('samples/bookinfo').resolve()}\n", 1
    )
    path = tmp_path / "reviews-v1.yaml"
    path.write_text(scaled)
    result = bookinfo.apply(str(path))
    assert "workload.pilotfish.io/reviews-v1 configured" in result.stdout, result.stdout
    bookinfo.wait_for(
        lambda: set(bookinfo.served_by(20)) == {"reviews-v1-0", "reviews-v1-1"},
        timeout=30,
        what="the second reviews-v1 replica to take traffic",
    )


def test_apply_from_stdin_and_get_as_json(bookinfo: LocalMesh) -> None:
    rule = Path(f"{NET}/virtual-service-reviews-test-v2.yaml").read_text()
    result = bookinfo.pilotfish("apply", "-f", "-", stdin=rule)
    assert result.returncode == 0, result.stderr
    assert "virtualservice.networking.istio.io/reviews configured" in result.stdout, result.stdout
    got = bookinfo.pilotfish("get", "virtualservice", "reviews", "-o", "json")
    assert got.returncode == 0, got.stderr
    spec = json.loads(got.stdout)["spec"]
    assert spec["http"][0]["match"][0]["headers"]["end-user"] == {"exact": "jason"}
    missing = bookinfo.pilotfish("get", "vs", "nope")
    assert missing.returncode == 1, missing.stdout
    assert 'virtualservices.networking.istio.io "nope" not found' in missing.stderr


def test_dashboard_gives_working_admin_and_debug_urls(bookinfo: LocalMesh) -> None:
    result = bookinfo.pilotfish("dashboard", "envoy", "reviews-v1", "--no-browser")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url == f"http://{bookinfo.proxy('reviews-v1-0')['ip']}:15000/"
    page = http(url)
    assert page.status == 200 and "Envoy Admin" in page.body, page.body[:300]
    controlz = bookinfo.pilotfish("dashboard", "controlz", "istiod-0", "--no-browser").stdout
    page = http(controlz.strip())
    assert page.status == 200 and "Logging Scopes" in page.body, page.body[:300]
