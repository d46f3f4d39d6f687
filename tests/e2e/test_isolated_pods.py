"""`pilotfish up --isolated` (root): every pod in its own network namespace, its traffic
captured by Istio's iptables rules, apps with no proxy variables.

One mesh for the module: Bookinfo, plus a recording server under STRICT mTLS (`strict`, two
pods, HTTP on 8000 and TCP echo on 9000) and a pod without a sidecar (`legacy`). The fixture
first kills an `up` with SIGKILL and starts again on the same state directory (stale namespaces
and bridge are cleaned up); the last test stops the mesh and checks that the host's namespaces,
links, routes and iptables are as before, and that every pod's agent (`pilotfish agent`, a
process inside its pod) drained and stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.meshctl import (
    CLUSTER_STATS_MESH,
    NEEDS_ISOLATION,
    LocalMesh,
    http,
    with_mesh_config,
)
from tests.e2e.mtlskit import RECORD_APP, _service, _workload, recorded

from pilotfish.cli.pods import admin_address
from pilotfish.local.client import pid_alive

pytestmark = [
    pytest.mark.host_network,
    NEEDS_ISOLATION,
]

NET = "samples/bookinfo/networking"
STRICT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict}
spec:
  selector: {matchLabels: {app: strict}}
  mtls: {mode: STRICT}
"""
PASSTHROUGH = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
"""


def host_state() -> dict[str, str]:
    """What the isolated mode may touch on the host (iptables without counters/comments)."""

    def sh(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    tables = "\n".join(
        re.sub(r"\[\d+:\d+\]", "", line)
        for line in sh("iptables-save").splitlines()
        if not line.startswith("#")
    )
    return {
        "netns": sh("ip", "netns", "list"),
        "links": sh("ip", "-br", "link"),
        "routes": sh("ip", "route", "show", "table", "all"),
        "iptables": tables,
        "etc-netns": "\n".join(sorted(os.listdir("/etc/netns")))
        if os.path.isdir("/etc/netns")
        else "",
    }


_MESH_NAME = re.compile(r"\bpf(?:br)?(\d+)")
_OTHER_TEST = re.compile(r"\bpfout\d+")
"""The namespace, veth and route of `test_access_log_task_verbatim`'s server off the host's
loopback (`outside_server`): made and removed by a module that holds no host lock, so it may be
there at one of this module's two looks at the host and not at the other."""


def _without_other_meshes(state: dict[str, str], block: int) -> dict[str, str]:
    """`state` without the lines (names) of other isolated meshes running on this machine at
    the same time (another test run's `pf<B>…` namespaces, links, routes), nor those of another
    test's server off loopback (`_OTHER_TEST`); this mesh's stay."""

    def other(text: str) -> bool:
        found = _OTHER_TEST.search(text) is not None
        return found or any(int(b) != block for b in _MESH_NAME.findall(text))

    return {
        key: "\n".join(line for line in value.splitlines() if not other(line))
        for key, value in state.items()
    }


def test_another_tests_host_state_is_left_out_of_the_comparison() -> None:
    """Pure: the host's lines of another mesh or of another test's server off loopback, made
    or removed between this module's two looks, do not count; this mesh's do."""
    state = {
        "netns": "pf7-a.default (id: 3)\npfout12\npf9-b.default (id: 4)",
        "routes": "100.64.12.0/30 dev pfout12h proto kernel\n10.9.0.0/16 dev pfbr9 scope link",
        "links": "pfout12h@if2 UP\npf7h0x3@if2 UP\nlo UNKNOWN",
    }
    assert _without_other_meshes(state, 9) == {
        "netns": "pf9-b.default (id: 4)",
        "routes": "10.9.0.0/16 dev pfbr9 scope link",
        "links": "lo UNKNOWN",
    }


@pytest.fixture(scope="module")
def before() -> dict[str, str]:
    return host_state()


@pytest.fixture(scope="module")
def mesh(
    tmp_path_factory: pytest.TempPathFactory, before: dict[str, str]
) -> Iterator[tuple[LocalMesh, Path]]:
    folder = tmp_path_factory.mktemp("extra")
    records = folder / "records"
    records.mkdir()
    app = folder / "record_app.py"
    app.write_text(RECORD_APP)
    extra = folder / "extra.yaml"
    extra.write_text(
        _service("strict")
        + _workload("strict", app, records).replace("spec:\n", "spec:\n  replicas: 2\n", 1)
        + _service("legacy")
        + _workload("legacy", app, records, sidecar=False)
        + STRICT
    )
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), str(folder), isolated=True)
    first = mesh.up()  # the two small pods first
    assert first.returncode == 0, first.stdout + first.stderr
    killed = int(mesh.info["pid"])
    os.kill(killed, signal.SIGKILL)  # leaves namespaces, links and the bridge
    mesh.wait_for(lambda: not pid_alive(killed), 20, "the killed up to exit")
    # Bookinfo, its proxies keeping their outbound clusters' stats (the tests count handshakes)
    mesh.directory = with_mesh_config(tmp_path_factory, "samples/bookinfo", CLUSTER_STATS_MESH)
    again = mesh.up()
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        mesh.apply(str(extra))
        mesh.wait_for(lambda: mesh.info["proxies"]["legacy-0.default"]["ready"], 40, "legacy")
        strict = ("strict-0.default", "strict-1.default")
        mesh.wait_for(lambda: all(mesh.info["proxies"][p]["ready"] for p in strict), 40, "strict")
        yield mesh, records
    finally:
        mesh.down()


def exec_(
    mesh: LocalMesh, pod: str, *argv: str, proxy: bool = False
) -> subprocess.CompletedProcess[str]:
    container = ["-c", "istio-proxy"] if proxy else []
    return mesh.pilotfish("exec", pod, *container, "--", *argv, timeout=60)


def curl(mesh: LocalMesh, pod: str, *args: str) -> subprocess.CompletedProcess[str]:
    return exec_(mesh, pod, "curl", "-s", "--max-time", "5", *args)


def test_bookinfo_routes_with_no_proxy_variables(mesh: tuple[LocalMesh, Path]) -> None:
    bookinfo, _ = mesh
    row = bookinfo.proxy("productpage-v1-0")
    environ = Path(f"/proc/{row['app_pid']}/environ").read_bytes().decode().split("\0")
    assert not [e for e in environ if e.split("=")[0].lower().endswith("_proxy")], environ
    assert os.readlink(f"/proc/{row['app_pid']}/ns/net") != os.readlink("/proc/self/ns/net")
    assert set(bookinfo.served_by(15)) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}
    bookinfo.apply(f"{NET}/destination-rule-all.yaml", f"{NET}/virtual-service-all-v1.yaml")
    assert bookinfo.served_by(10) == {"reviews-v1-0": 10}
    bookinfo.apply(f"{NET}/virtual-service-reviews-jason-v2-v3.yaml")
    assert bookinfo.served_by(5, cookie=bookinfo.login("jason")) == {"reviews-v2-0": 5}
    assert bookinfo.served_by(5) == {"reviews-v3-0": 5}


def _pods_answering(bookinfo: LocalMesh, ip: str, n: int) -> Counter[str]:
    """Which reviews pods answer `http://reviews:9080/` when productpage dials `ip` (n calls,
    from inside productpage's pod)."""
    curl = f"curl -s --max-time 5 --resolve reviews:9080:{ip} http://reviews:9080/reviews/1"
    loop = f"for i in $(seq {n}); do {curl}; echo; done"
    out = exec_(bookinfo, "productpage-v1-0", "sh", "-c", loop)
    return Counter(re.findall(r'"podname":\s*"([^"]+)"', out.stdout))


def test_destination_rule_passthrough_goes_where_the_caller_dialled(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    result = bookinfo.pilotfish("delete", "virtualservice", "reviews")
    assert result.returncode == 0, result.stderr
    v2, v3 = (bookinfo.proxy(f"reviews-{v}-0")["ip"] for v in ("v2", "v3"))
    bookinfo.wait_for(lambda: len(_pods_answering(bookinfo, v3, 9)) > 1, 20, "load balancing")
    bookinfo.pilotfish("apply", "-f", "-", stdin=PASSTHROUGH)
    bookinfo.wait_for(lambda: _pods_answering(bookinfo, v3, 1) == {"reviews-v3-0": 1}, 20)
    assert _pods_answering(bookinfo, v3, 6) == {"reviews-v3-0": 6}
    assert _pods_answering(bookinfo, v2, 6) == {"reviews-v2-0": 6}
    assert bookinfo.pilotfish("delete", "destinationrule", "reviews").returncode == 0


STRICT_PASSTHROUGH = PASSTHROUGH.replace("name: reviews", "name: strict").replace(
    "host: reviews", "host: strict"
)
_CONCURRENT_CALLS = """
import socket, sys, threading, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
tag, n = sys.argv[1], int(sys.argv[2])
barrier, codes = threading.Barrier(n), []
def call(i):
    barrier.wait()  # n requests at once: the sidecar opens n upstream connections
    with opener.open("http://strict:8000/record?m=%s-%d" % (tag, i), timeout=10) as answer:
        codes.append(answer.status)
threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(socket.gethostbyname("strict"), *codes)
"""


def _admin(bookinfo: LocalMesh, pod: str, path: str) -> str:
    """A page of the pod's Envoy admin, through the launcher's loopback bridge to it."""
    return http(f"http://{admin_address(bookinfo.proxy(pod))}/{path}").body


def _cluster_hosts(bookinfo: LocalMesh, pod: str, cluster: str) -> set[str]:
    """The hosts (address:port) a pod's Envoy holds for `cluster` (admin `/clusters`)."""
    text = _admin(bookinfo, pod, "clusters")
    return set(re.findall(rf"^{re.escape(cluster)}::([\d.]+:\d+)::", text, re.MULTILINE))


def _resolve(bookinfo: LocalMesh, pod: str, name: str) -> str:
    """The address `name` has in the pod's /etc/hosts (what `ip netns exec` shows it)."""
    hosts = Path(f"/etc/netns/pf{bookinfo.info['block']}-{pod}.default/hosts").read_text()
    return next(line.split()[0] for line in hosts.splitlines() if name in line.split()[1:])


def test_passthrough_by_name_is_balanced_by_the_pods_kube_proxy_rules_over_mtls(
    mesh: tuple[LocalMesh, Path],
) -> None:
    """`http://strict:8000` with PASSTHROUGH: the sidecar's ORIGINAL_DST cluster dials the
    service's cluster IP (its only host), the pod's KUBE-SERVICES chain DNATs each connection to
    one ready pod, and both pods answer. STRICT pods take nothing but mTLS: auto mTLS still
    applies to the passthrough cluster, as in Istio (every instance has a sidecar)."""
    bookinfo, records = mesh
    cluster = "outbound|8000||strict.default.svc.cluster.local"
    pods = {f"{bookinfo.proxy(f'strict-{i}')['ip']}:8080" for i in (0, 1)}  # EDS: the pods
    first = curl(bookinfo, "productpage-v1-0", "http://strict:8000/record?m=first")  # on demand
    assert first.returncode == 0, first.stdout + first.stderr
    bookinfo.wait_for(lambda: _cluster_hosts(bookinfo, "productpage-v1-0", cluster) == pods, 20)
    applied = bookinfo.pilotfish("apply", "-f", "-", stdin=STRICT_PASSTHROUGH)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    bookinfo.wait_for(
        lambda: not _cluster_hosts(bookinfo, "productpage-v1-0", cluster), 20, "ORIGINAL_DST"
    )
    before = _handshakes(bookinfo, cluster)
    rounds: list[str] = []

    def both_answered() -> bool:
        tag = f"pt{len(rounds)}"
        calls = exec_(bookinfo, "productpage-v1-0", "python3", "-c", _CONCURRENT_CALLS, tag, "12")
        assert calls.returncode == 0, calls.stdout + calls.stderr
        rounds.append(calls.stdout)
        return all("http /record?m=pt" in recorded(records, f"strict-{i}") for i in (0, 1))

    try:
        bookinfo.wait_for(both_answered, 40, "both strict pods to answer")
        vip, *codes = rounds[0].split()
        assert set(codes) == {"200"} and len(codes) == 12, rounds
        assert f"{vip}:8080" not in pods
        assert _cluster_hosts(bookinfo, "productpage-v1-0", cluster) == {f"{vip}:8000"}
        assert _handshakes(bookinfo, cluster) >= before + 2  # TLS to each pod at least
    finally:
        assert bookinfo.pilotfish("delete", "destinationrule", "strict").returncode == 0


def _handshakes(bookinfo: LocalMesh, cluster: str) -> int:
    stats = _admin(bookinfo, "productpage-v1-0", "stats")
    found = re.search(rf"^cluster\.{re.escape(cluster)};\.ssl\.handshake: (\d+)$",
                      stats, re.MULTILINE)  # fmt: skip
    return int(found.group(1)) if found else 0


def test_a_pod_without_sidecar_reaches_every_instance_by_name(
    mesh: tuple[LocalMesh, Path],
) -> None:
    """A legacy pod resolves `reviews.default` to the cluster IP as on Kubernetes, and its
    KUBE-SERVICES chain spreads its connections over the three reviews pods."""
    bookinfo, _ = mesh
    resolved = _resolve(bookinfo, "legacy-0", "reviews.default")
    pods = {bookinfo.proxy(f"reviews-{v}-0")["ip"] for v in ("v1", "v2", "v3")}
    assert resolved == _resolve(bookinfo, "productpage-v1-0", "reviews") not in pods
    seen: Counter[str] = Counter()
    call = "curl -s --max-time 5 http://reviews.default:9080/reviews/1"
    loop = f"for i in $(seq 15); do {call}; echo; done"

    def all_three() -> bool:
        out = exec_(bookinfo, "legacy-0", "sh", "-c", loop).stdout
        seen.update(re.findall(r'"podname":\s*"([^"]+)"', out))
        return set(seen) == {"reviews-v1-0", "reviews-v2-0", "reviews-v3-0"}

    bookinfo.wait_for(all_three, 30, "every reviews pod")


def test_another_namespace_reaches_an_app_only_through_its_sidecar(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    page = curl(bookinfo, "legacy-0", "-i", "http://productpage.default:9080/productpage")
    assert page.stdout.startswith("HTTP/1.1 200"), page.stdout[:300]
    assert "server: istio-envoy" in page.stdout.lower()  # answered by productpage's sidecar
    ip = bookinfo.proxy("productpage-v1-0")["ip"]
    admin = curl(bookinfo, "legacy-0", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://{ip}:15000/stats")  # fmt: skip
    assert admin.returncode != 0 and admin.stdout in ("", "000"), admin


def test_strict_refuses_a_plaintext_pod_and_no_byte_reaches_the_app(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, records = mesh
    good = curl(bookinfo, "productpage-v1-0", "http://strict:8000/record?m=from-sidecar")
    assert good.returncode == 0 and "from-sidecar" not in good.stderr, good
    bookinfo.wait_for(lambda: "from-sidecar" in _records(records), 10, "record")
    refused = curl(bookinfo, "legacy-0", "-i", "http://strict.default:8000/record?m=plaintext")
    assert refused.returncode != 0 and "HTTP/" not in refused.stdout, refused
    probe = exec_(
        bookinfo, "legacy-0", "python3", "-c", _TCP_PROBE % bookinfo.proxy("strict-0")["ip"]
    )
    assert probe.returncode == 0, probe.stderr
    by_name = exec_(bookinfo, "legacy-0", "python3", "-c", _TCP_PROBE % "strict.default")
    assert by_name.returncode == 0, by_name.stderr  # the cluster IP, DNATed to a strict pod
    time.sleep(1)
    assert "plaintext" not in _records(records)
    assert "raw-bytes" not in _records(records)


def _records(records: Path) -> str:
    return "".join(recorded(records, f"strict-{i}") for i in (0, 1))


_TCP_CALLS = """
import socket
print(socket.gethostbyname("strict"))
for i in range(20):
    with socket.create_connection(("strict", 9000), timeout=5) as s:
        s.sendall(b"balanced-%d\\n" % i)
        assert s.makefile("rb").readline() == b"echo balanced-%d\\n" % i
"""


def test_a_tcp_service_is_balanced_over_its_pods_with_mtls_by_its_cluster_ip(
    mesh: tuple[LocalMesh, Path],
) -> None:
    """`strict:9000` from a pod with a sidecar: the name is the service's VIP (inside the mesh's
    10.A.0.0/16, no pod's address); captured, it reaches both pods over mTLS (their STRICT
    sidecars take nothing else), the client sidecar's `outbound|9000||strict…` cluster counting
    the TLS handshakes."""
    bookinfo, records = mesh
    block = int(bookinfo.info["block"])
    calls = exec_(bookinfo, "productpage-v1-0", "python3", "-c", _TCP_CALLS)
    assert calls.returncode == 0, calls.stdout + calls.stderr
    vip = calls.stdout.split()[0]
    octets = [int(o) for o in vip.split(".")]
    assert octets[:2] == [10, block] and 240 <= octets[2] < 248, vip
    assert vip not in {row["ip"] for row in bookinfo.info["proxies"].values()}
    for pod in ("strict-0", "strict-1"):
        seen = re.findall(r"^tcp balanced-(\d+)$", recorded(records, pod), re.MULTILINE)
        assert seen, f"{pod} got none of the 20 connections"
    assert len(re.findall(r"^tcp balanced-", _records(records), re.MULTILINE)) == 20
    stats = exec_(bookinfo, "productpage-v1-0", "curl", "-s", "localhost:15000/stats", proxy=True)
    cluster = re.escape("cluster.outbound|9000||strict.default.svc.cluster.local;")
    handshakes = re.search(rf"^{cluster}\.ssl\.handshake: (\d+)$", stats.stdout, re.MULTILINE)
    assert handshakes and int(handshakes.group(1)) >= 20, stats.stdout[-2000:]


def test_get_svc_shows_the_cluster_ip_the_pods_dial(mesh: tuple[LocalMesh, Path]) -> None:
    """kubectl's CLUSTER-IP: the address a pod resolves the service's name to, which reaches
    the service when dialled by number."""
    bookinfo, _ = mesh
    listed = bookinfo.pilotfish("get", "svc")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    resolved = exec_(bookinfo, "productpage-v1-0", "getent", "hosts", "reviews", "strict")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    for line in resolved.stdout.splitlines():
        address, name = line.split()[:2]
        assert rows[name.split(".")[0]][1:3] == ["ClusterIP", address], (listed.stdout, line)
    vip = rows["reviews"][2]
    block = int(bookinfo.info["block"])
    assert vip.startswith(f"10.{block}.") and vip not in {
        row["ip"] for row in bookinfo.info["proxies"].values()
    }
    answer = curl(bookinfo, "productpage-v1-0", "-o", "/dev/null", "-w", "%{http_code}",
                  f"http://{vip}:9080/reviews/0")  # fmt: skip
    assert answer.stdout == "200", answer.stdout + answer.stderr


_TCP_PROBE = """
import socket
s = socket.create_connection(("%s", 9000), timeout=5)
try:
    s.sendall(b"raw-bytes\\n")
    s.settimeout(3)
    assert s.recv(100) == b"", "an answer came back"
except (ConnectionResetError, BrokenPipeError, socket.timeout):
    pass
"""


def test_exec_istio_proxy_reads_envoy_admin_in_the_pod(mesh: tuple[LocalMesh, Path]) -> None:
    bookinfo, _ = mesh
    stats = exec_(bookinfo, "productpage-v1-0", "curl", "-s", "localhost:15000/stats", proxy=True)
    assert stats.returncode == 0, stats.stderr
    assert "cluster.outbound|9080||reviews.default.svc.cluster.local;." in stats.stdout
    request = exec_(
        bookinfo, "productpage-v1-0", "pilot-agent", "request", "GET", "stats", proxy=True
    )
    assert request.returncode == 0, request.stderr
    assert "cluster.outbound|9080||reviews.default.svc.cluster.local;." in request.stdout


def test_a_pod_reads_the_web_ui_only_with_the_ui_token(mesh: tuple[LocalMesh, Path]) -> None:
    """The control plane's 15014 is on the bridge (agents need its API), but its web UI is the
    host's: a pod is refused, forged forwarding headers change nothing; with the token of the
    URL `pilotfish dashboard mesh` prints it reads the graph; the host needs no token."""
    bookinfo, _ = mesh
    graph = f"{bookinfo.info['api']}/ui/api/graph"
    status = ("-o", "/dev/null", "-w", "%{http_code}")
    assert curl(bookinfo, "legacy-0", *status, graph).stdout == "401"
    forged = ("-H", "X-Forwarded-For: 127.0.0.1", "-H", "Forwarded: for=127.0.0.1")
    assert curl(bookinfo, "legacy-0", *status, *forged, graph).stdout == "401"
    printed = bookinfo.pilotfish("dashboard", "mesh", "--no-browser").stdout.strip()
    assert printed.startswith(f"{bookinfo.info['api']}/ui/?token=") and printed.endswith("#graph")
    token = parse_qs(urlsplit(printed).query)["token"][0]
    assert curl(bookinfo, "legacy-0", *status, f"{graph}?token=wrong").stdout == "401"
    answer = curl(bookinfo, "legacy-0", "-H", f"Authorization: Bearer {token}", graph)
    assert '"edges"' in answer.stdout, answer.stdout + answer.stderr
    assert http(graph).status == 200


def test_each_pod_runs_its_own_agent_process_inside_its_namespace(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    row = bookinfo.proxy("reviews-v2-0")
    agent = row["agent_pid"]
    argv = Path(f"/proc/{agent}/cmdline").read_bytes().decode().split("\0")
    assert argv[1:5] == ["-m", "pilotfish", "agent", "proxy"], argv
    pod_net = os.readlink(f"/proc/{row['app_pid']}/ns/net")
    assert os.readlink(f"/proc/{agent}/ns/net") == pod_net != os.readlink("/proc/self/ns/net")
    for child in ("envoy_pid", "app_pid"):  # the agent supervises both
        status = Path(f"/proc/{row[child]}/status").read_text()
        assert f"PPid:\t{agent}\n" in status, (child, status)
    # Istio's istio-proxy user and group, exempt from capture; the app's traffic is captured
    assert _ids(row["envoy_pid"], "Uid") == _ids(row["envoy_pid"], "Gid") == {1337}
    assert 1337 not in _ids(row["app_pid"], "Gid") | _ids(row["app_pid"], "Uid")


def _ids(pid: int, kind: str) -> set[int]:
    """Real, effective, saved and filesystem user (`Uid`) or group (`Gid`) ids of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return {int(g) for g in line.split()[1:]}
    raise AssertionError(f"no {kind} line for {pid}")


def test_merged_metrics_and_app_health_are_served_on_15020_per_pod(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    ip = bookinfo.proxy("productpage-v1-0")["ip"]
    bookinfo.served_by(2)
    text = ""

    def merged() -> bool:
        nonlocal text
        text = http(f"http://{ip}:15020/stats/prometheus").body
        return "istio_requests_total{" in text

    bookinfo.wait_for(merged, 20, "Istio's metrics on 15020")
    assert 'istio_build{component="proxy"' in text
    assert 'istio_agent_cert_expiry_seconds{resource_name="default"}' in text
    assert 'destination_workload="productpage-v1"' in text


def test_proxy_config_dashboard_and_proxy_status_reach_an_isolated_pod(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    clusters = bookinfo.pilotfish("proxy-config", "cluster", "productpage-v1-0")
    assert clusters.returncode == 0, clusters.stderr
    assert "reviews.default.svc.cluster.local" in clusters.stdout
    dashboard = bookinfo.pilotfish("dashboard", "envoy", "productpage-v1-0", "--no-browser")
    assert dashboard.returncode == 0, dashboard.stderr
    url = dashboard.stdout.strip()
    assert url.startswith("http://127.") and url.endswith(":15000/"), url
    info = http(url + "server_info")
    assert info.status == 200 and '"state": "LIVE"' in info.body, info
    assert bookinfo.proxy("productpage-v1-0")["ip"] in info.body  # that pod's Envoy
    status = bookinfo.pilotfish("x", "proxy-status", "productpage-v1-0")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("Clusters Match\nListeners Match\nRoutes Match"), status.stdout


def test_a_killed_agent_is_restarted_with_its_envoy_and_app(
    mesh: tuple[LocalMesh, Path],
) -> None:
    bookinfo, _ = mesh
    old = bookinfo.proxy("details-v1-0")
    os.kill(old["agent_pid"], signal.SIGKILL)  # its Envoy and app die with it

    def back() -> bool:
        row = bookinfo.proxy("details-v1-0")
        fresh = row["envoy_pid"] not in (None, old["envoy_pid"])
        return bool(row["ready"] and row["agent_restarts"] == 1 and fresh)

    bookinfo.wait_for(back, 60, "details' agent to come back")
    assert not pid_alive(old["envoy_pid"]) and not pid_alive(old["app_pid"])
    page = curl(bookinfo, "productpage-v1-0", "http://productpage:9080/productpage")
    assert "Book Details" in page.stdout and "Error fetching product details" not in page.stdout


def _dnat_targets(bookinfo: LocalMesh, pod: str, vip: str, port: int) -> set[str]:
    """Where the pod's KUBE-SERVICES chain sends connections to `vip:port`."""
    netns = f"pf{bookinfo.info['block']}-{pod}.default"
    saved = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-save", "-t", "nat"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pattern = (
        rf"^-A KUBE-SERVICES -d {re.escape(vip)}/32 .*--dport {port} .*--to-destination (\S+)$"
    )
    return set(re.findall(pattern, saved, re.MULTILINE))


def test_service_rules_follow_scaling_in_every_pod(mesh: tuple[LocalMesh, Path]) -> None:
    """Scale `strict` to 3 then back to 2: every pod's KUBE-SERVICES chain (sidecar or not)
    gains the new ready pod, then loses it; the new pod's own chain leaves itself out."""
    bookinfo, records = mesh
    extra = records.parent / "extra.yaml"
    vip = _resolve(bookinfo, "productpage-v1-0", "strict")
    two = {f"{bookinfo.proxy(f'strict-{i}')['ip']}:8080" for i in (0, 1)}
    for pod in ("productpage-v1-0", "legacy-0"):
        assert _dnat_targets(bookinfo, pod, vip, 8000) == two, pod
    three = records.parent / "extra-3.yaml"
    three.write_text(extra.read_text().replace("replicas: 2", "replicas: 3", 1))
    bookinfo.apply(str(three))
    bookinfo.wait_for(lambda: bookinfo.info["proxies"]["strict-2.default"]["ready"], 40)
    added = two | {f"{bookinfo.proxy('strict-2')['ip']}:8080"}
    pods = ("productpage-v1-0", "legacy-0")

    def everywhere(targets: set[str]) -> bool:
        return all(_dnat_targets(bookinfo, pod, vip, 8000) == targets for pod in pods)

    bookinfo.wait_for(lambda: everywhere(added), 20, "strict-2 in every pod's chain")
    assert _dnat_targets(bookinfo, "strict-2", vip, 8000) == two  # not itself
    bookinfo.apply(str(extra))
    bookinfo.wait_for(lambda: everywhere(two), 20, "strict-2 out of every pod's chain")
    gone = Path(f"/run/netns/pf{bookinfo.info['block']}-strict-2.default")
    bookinfo.wait_for(lambda: not gone.exists(), 30, "strict-2's namespace to go")


BANNER_APP = r"""
import os, socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT_3306"])))
server.listen()
while True:
    client, _ = server.accept()
    client.sendall(b"220 banner first\n")
    client.close()
"""
BANNER = """apiVersion: v1
kind: Service
metadata: {{name: banner}}
spec:
  ports: [{{name: tcp-mysql, port: 3306}}]
  selector: {{app: banner}}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {{name: banner, labels: {{app: banner}}}}
spec:
  command: ["{python}", "{app}"]
  ports: [3306]
"""
_WAIT_FOR_BANNER = """
import socket, time
start = time.monotonic()
s = socket.create_connection(("%s", 3306), timeout=5)
s.settimeout(%s)
try:
    print(s.recv(100).decode().strip() or "closed", round(time.monotonic() - start, 1))
except socket.timeout:
    print("nothing", round(time.monotonic() - start, 1))
"""
DETECTION_MESH = CLUSTER_STATS_MESH + "    protocolDetectionTimeout: 1s\n"


def test_a_server_first_app_needs_the_mesh_protocol_detection_timeout(
    mesh: tuple[LocalMesh, Path], tmp_path: Path
) -> None:
    """A server-first protocol (the app speaks first, as MySQL) behind a PERMISSIVE port: the
    sidecar's listener filters wait for the client's first bytes to tell mTLS from plaintext.
    Istio's default `protocolDetectionTimeout: 0s` waits for ever (Istio's docs: declare such
    ports and use STRICT or DISABLE); with `1s`, the connection goes on after 1 s and the
    client reads the banner. Envoy's own default would close it after 15 s instead."""
    bookinfo, _ = mesh
    app = tmp_path / "banner_app.py"
    app.write_text(BANNER_APP)
    manifest = tmp_path / "banner.yaml"
    manifest.write_text(BANNER.format(python=sys.executable, app=app))
    bookinfo.apply(str(manifest))
    bookinfo.wait_for(lambda: bookinfo.info["proxies"]["banner-0.default"]["ready"], 40, "banner")
    ip = bookinfo.proxy("banner-0")["ip"]

    def banner(wait: float) -> str:
        result = exec_(bookinfo, "legacy-0", "python3", "-c", _WAIT_FOR_BANNER % (ip, wait))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    waited = banner(4)
    assert waited.startswith("nothing"), waited  # 0s: no limit, the app never hears of it
    mesh_config = tmp_path / "mesh.yaml"
    mesh_config.write_text(DETECTION_MESH)
    try:
        bookinfo.apply(str(mesh_config))
        bookinfo.wait_for(lambda: banner(5).startswith("220 banner first"), 30, "the banner")
        got, seconds = banner(5).rsplit(" ", 1)
        assert got == "220 banner first" and 0.9 <= float(seconds) < 4, (got, seconds)
    finally:
        mesh_config.write_text(CLUSTER_STATS_MESH)
        bookinfo.apply(str(mesh_config))
        bookinfo.pilotfish("delete", "-f", str(manifest))


def test_down_leaves_the_host_as_before(
    mesh: tuple[LocalMesh, Path], before: dict[str, str]
) -> None:
    bookinfo, _ = mesh
    run = bookinfo.home / "run" / "reviews-v1-0.default"
    block = int(bookinfo.info["block"])
    bookinfo.down()
    assert _without_other_meshes(host_state(), block) == _without_other_meshes(before, block)
    agent_log = (run / "agent.log").read_text()  # Istio's order: drain, then stop
    assert agent_log.index("draining for") < agent_log.index("stopped after"), agent_log
