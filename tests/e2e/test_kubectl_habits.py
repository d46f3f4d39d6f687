"""kubectl habits an Istio user brings to `pilotfish apply/get/delete`: `-n NAMESPACE`, applying
back what `get -o json|yaml` printed (a `v1 List`), and `delete -f` of what was applied."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.e2e.l4kit import https_get
from tests.e2e.meshctl import LocalMesh, running_mesh
from tests.pki import Pki

NET = "samples/bookinfo/networking"

DR_WITHOUT_NAMESPACE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: qa-reviews
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/bookinfo") as m:
        yield m


def test_apply_with_namespace_flag(mesh: LocalMesh) -> None:
    applied = mesh.pilotfish("apply", "-n", "istio-system", "-f", "-", stdin=DR_WITHOUT_NAMESPACE)
    assert applied.returncode == 0, applied.stderr
    listed = mesh.pilotfish("get", "dr", "qa-reviews", "-n", "istio-system", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["metadata"]["namespace"] == "istio-system"
    assert mesh.pilotfish("get", "dr", "qa-reviews", "-n", "default").returncode == 1
    deleted = mesh.pilotfish("delete", "-n", "istio-system", "-f", "-", stdin=DR_WITHOUT_NAMESPACE)
    assert deleted.returncode == 0, deleted.stderr
    assert mesh.pilotfish("get", "dr", "qa-reviews", "-n", "istio-system").returncode == 1


def test_namespace_flag_conflicting_with_the_object_is_refused(mesh: LocalMesh) -> None:
    text = DR_WITHOUT_NAMESPACE.replace("name: qa-reviews", "name: qa-reviews\n  namespace: foo")
    result = mesh.pilotfish("apply", "-n", "istio-system", "-f", "-", stdin=text)
    assert result.returncode == 1
    assert "does not match the namespace" in result.stderr, result.stderr
    assert mesh.pilotfish("get", "dr", "qa-reviews", "-n", "foo").returncode == 1


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_get_output_applies_back(mesh: LocalMesh, output: str) -> None:
    first = mesh.apply(f"{NET}/destination-rule-all.yaml")
    assert first.returncode == 0, first.stderr
    dumped = mesh.pilotfish("get", "dr", "-o", output)
    assert dumped.returncode == 0, dumped.stderr
    again = mesh.pilotfish("apply", "-f", "-", stdin=dumped.stdout)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged") == 4, again.stdout
    gone = mesh.pilotfish("delete", "-f", f"{NET}/destination-rule-all.yaml")
    assert gone.returncode == 0, gone.stderr
    assert "No resources found" in mesh.pilotfish("get", "dr").stderr


def test_get_all_namespaces_and_several_kinds(mesh: LocalMesh) -> None:
    every = mesh.pilotfish("get", "vs", "-A")
    assert every.returncode == 0, every.stderr
    assert "bookinfo" in every.stdout
    both = mesh.pilotfish("get", "gw,vs")
    assert both.returncode == 0, both.stderr
    assert "bookinfo-gateway" in both.stdout and "HOSTS" in both.stdout, both.stdout
    dumped = mesh.pilotfish("get", "gw,vs", "-o", "yaml")
    again = mesh.pilotfish("apply", "-f", "-", stdin=dumped.stdout)
    assert again.returncode == 0, again.stderr
    assert "gateway.networking.istio.io/bookinfo-gateway unchanged" in again.stdout, again.stdout
    assert "virtualservice.networking.istio.io/bookinfo unchanged" in again.stdout, again.stdout


@pytest.mark.parametrize("extra", [[], ["-A"], ["--all-namespaces"]])
def test_analyze_alone_analyses_the_running_mesh(mesh: LocalMesh, extra: list[str]) -> None:
    result = mesh.pilotfish("analyze", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    target = "all namespaces" if extra else "namespace: default"  # as istioctl says it
    assert result.stderr == f"\u2714 No validation issues found when analyzing {target}.\n"


SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: qa-credential
stringData:
  tls.crt: not-a-cert
  tls.key: not-a-key
"""


def test_secret_applied_with_namespace_can_be_listed_and_deleted(mesh: LocalMesh) -> None:
    applied = mesh.pilotfish("apply", "-n", "istio-system", "-f", "-", stdin=SECRET)
    assert applied.returncode == 0, applied.stderr
    listed = mesh.pilotfish("get", "secret", "-n", "istio-system")
    assert listed.returncode == 0 and "qa-credential" in listed.stdout, listed.stderr
    deleted = mesh.pilotfish("delete", "-n", "istio-system", "secret", "qa-credential")
    assert deleted.returncode == 0, deleted.stderr
    assert mesh.pilotfish("get", "secret", "qa-credential", "-n", "istio-system").returncode == 1


def test_istioctl_x_describe_spelling(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("x", "describe", "pod", "reviews-v1-0")
    assert result.returncode == 0, result.stderr
    assert "Pod: reviews-v1-0" in result.stdout, result.stdout


def test_get_output_formats_as_kubectl(mesh: LocalMesh) -> None:
    names = mesh.pilotfish("get", "vs", "-o", "name")
    assert names.stdout == "virtualservice.networking.istio.io/bookinfo\n", names.stdout
    unknown = mesh.pilotfish("get", "vs", "-o", "xml")
    assert unknown.returncode == 1 and "allowed formats are" in unknown.stderr, unknown.stderr
    # kubectl's jsonpath on config kinds too (Istio's docs: `get configmap istio -o jsonpath=…`)
    host = mesh.pilotfish("get", "vs", "bookinfo", "-o", "jsonpath={.spec.hosts[0]}")
    assert (host.returncode, host.stdout) == (0, "*"), host.stdout + host.stderr
    listed = mesh.pilotfish("get", "vs", "-o", "jsonpath={.items[*].metadata.name}")
    assert listed.stdout == "bookinfo", listed.stdout + listed.stderr
    one = mesh.pilotfish("get", "gw", "bookinfo-gateway", "-o", "json")
    assert json.loads(one.stdout)["metadata"]["namespace"] == "default", one.stdout


def test_logs_of_the_app_and_its_proxy(mesh: LocalMesh) -> None:
    assert mesh.get("/productpage?qa-logs=1").status == 200
    app = mesh.pilotfish("logs", "productpage-v1")
    assert app.returncode == 0 and "qa-logs=1" in app.stdout, app.stdout + app.stderr
    last = mesh.pilotfish("logs", "productpage-v1-0.default", "--tail", "1")
    assert len(last.stdout.splitlines()) == 1, last.stdout
    proxy = mesh.pilotfish("logs", "reviews-v1", "-c", "istio-proxy", "--tail", "5")
    # a quiet Envoy (no warnings, access logs off) has an empty log: what it has, it shows
    envoy_log = mesh.home / "run" / "reviews-v1-0.default" / "envoy.log"
    expected = "".join(envoy_log.read_text().splitlines(keepends=True)[-5:])
    assert proxy.returncode == 0 and proxy.stdout == expected, proxy.stderr
    gateway = mesh.pilotfish("logs", "istio-ingressgateway", "-n", "istio-system")
    assert gateway.returncode == 0, gateway.stderr
    missing = mesh.pilotfish("logs", "nosuch")
    assert missing.returncode == 1 and "not found" in missing.stderr


SECURE_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: qa-secure-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: qa-bookinfo-credential}
    hosts: [bookinfo.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: qa-secure-bookinfo
spec:
  hosts: [bookinfo.example.com]
  gateways: [qa-secure-gateway]
  http:
  - route:
    - destination: {host: productpage, port: {number: 9080}}
"""


def test_create_secret_tls_for_a_secure_gateway(mesh: LocalMesh, tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    cert, key = pki.issue("bookinfo", ["bookinfo.example.com"])
    created = mesh.pilotfish(
        "create", "secret", "tls", "qa-bookinfo-credential", "-n", "istio-system",
        "--cert", str(cert), "--key", str(key),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "secret/qa-bookinfo-credential created" in created.stdout, created.stdout
    applied = mesh.pilotfish("apply", "-f", "-", stdin=SECURE_GATEWAY)
    assert applied.returncode == 0, applied.stderr
    mesh.wait_for(
        lambda: (
            https_get(mesh.ingress, 8443, "bookinfo.example.com", "/productpage", pki.ca_path)[0]
            == 200
        ),
        what="HTTPS ingress with the created secret",
    )
    secrets = mesh.pilotfish("pc", "secret", "istio-ingressgateway-0.istio-system")
    cells = [re.split(" {5,}", line)[:4] for line in secrets.stdout.splitlines()]
    assert ["kubernetes://qa-bookinfo-credential", "Cert Chain", "ACTIVE", "true"] in cells
    generic = mesh.pilotfish(
        "create", "secret", "generic", "qa-generic", "-n", "istio-system",
        f"--from-file=tls.crt={cert}", f"--from-file={pki.ca_path}",
    )  # fmt: skip
    assert generic.returncode == 0, generic.stderr
    shown = mesh.pilotfish("get", "secret", "qa-generic", "-n", "istio-system", "-o", "json")
    assert set(json.loads(shown.stdout)["data"]) == {"tls.crt", pki.ca_path.name}, shown.stdout
    missing = mesh.pilotfish("create", "secret", "tls", "x", "--cert", "/nonexistent", "--key", "k")
    assert missing.returncode == 1 and "/nonexistent: cannot read" in missing.stderr


def test_istioctl_short_names_and_proxy_config_filters(mesh: LocalMesh) -> None:
    status = mesh.pilotfish("ps")
    assert status.returncode == 0 and "reviews-v1-0.default" in status.stdout, status.stderr
    fqdn = "details.default.svc.cluster.local"
    assert mesh.get("/productpage").status == 200  # productpage's clusters come on demand
    clusters = mesh.pilotfish("pc", "clusters", "productpage-v1-0.default", "--fqdn", fqdn)
    assert clusters.returncode == 0, clusters.stderr
    lines = clusters.stdout.splitlines()
    assert len(lines) >= 2 and all(line.startswith(fqdn) for line in lines[1:]), lines


def _table(text: str) -> dict[str, list[str]]:
    """kubectl table rows by their first column."""
    return {line.split()[0]: line.split() for line in text.splitlines()[1:] if line.strip()}


def test_get_pods_as_kubectl_shows_them(mesh: LocalMesh) -> None:
    pods = mesh.pilotfish("get", "pods")
    assert pods.returncode == 0, pods.stderr
    assert pods.stdout.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    row = _table(pods.stdout)["productpage-v1-0"]
    assert row[1:4] == ["2/2", "Running", "0"], row
    assert "istiod-0" not in pods.stdout  # another namespace
    system = _table(mesh.pilotfish("get", "pods", "-n", "istio-system", "-o", "wide").stdout)
    assert system["istiod-0"][1:3] == ["1/1", "Running"], system
    gateway = system["istio-ingressgateway-0"]
    assert (
        gateway[1:3] == ["1/1", "Running"]
        and gateway[5] == mesh.proxy("istio-ingressgateway-0.istio-system")["ip"]
    )
    every = mesh.pilotfish("get", "pods", "-A").stdout
    assert (
        every.splitlines()[0].startswith("NAMESPACE")
        and "istiod-0" in every
        and "reviews-v3-0" in every
    )


def test_istio_docs_read_the_ingress_gateway_service(mesh: LocalMesh) -> None:
    svc = ["-n", "istio-system", "get", "service", "istio-ingressgateway"]
    host = mesh.pilotfish(
        *svc, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"
    ).stdout.strip()
    port = mesh.pilotfish(
        *svc, "-o", 'jsonpath={.spec.ports[?(@.name=="http2")].port}'
    ).stdout.strip()
    assert (host, port) == (mesh.ingress, "8080")
    from tests.e2e.meshctl import http

    assert http(f"http://{host}:{port}/productpage").status == 200
    listed = _table(mesh.pilotfish("get", "svc", "-n", "istio-system").stdout)
    assert listed["istio-ingressgateway"][1:4] == [
        "LoadBalancer",
        mesh.proxy("istio-ingressgateway-0.istio-system")["ip"],
        mesh.ingress,
    ]
    assert "istiod" in listed
    services = list(_table(mesh.pilotfish("get", "svc").stdout))
    assert services == sorted(services) and "productpage" in services  # kubectl's order


def test_istio_docs_pick_a_pod_by_label(mesh: LocalMesh) -> None:
    """Bookinfo's first step: `kubectl exec "$(kubectl get pod -l app=ratings -o
    jsonpath='{.items[0].metadata.name}')" -c ratings -- curl -sS productpage:9080/productpage`;
    and `{.items..metadata.name}` (SOURCE_POD in the security tasks)."""
    by_label = ["get", "pod", "-l", "app=ratings", "-o"]
    pod = mesh.pilotfish(*by_label, "jsonpath={.items[0].metadata.name}").stdout
    assert pod == "ratings-v1-0", repr(pod)  # as kubectl: no newline after a jsonpath
    page = mesh.pilotfish(
        "exec", pod, "-c", "ratings", "--", "curl", "-sS", "productpage:9080/productpage"
    )
    assert "<title>Simple Bookstore App</title>" in page.stdout, page.stdout[-500:]
    reviews = ["get", "pods", "-l", "app=reviews", "-o", "jsonpath={.items..metadata.name}"]
    names = mesh.pilotfish(*reviews).stdout
    assert names == "reviews-v1-0 reviews-v2-0 reviews-v3-0", repr(names)
    ranged = '{range .items[*]}{.metadata.name}{"\\n"}{end}'
    lines = mesh.pilotfish(*reviews[:-1], f"jsonpath={ranged}").stdout
    assert lines == "reviews-v1-0\nreviews-v2-0\nreviews-v3-0\n", repr(lines)
    v2 = _table(mesh.pilotfish("get", "deploy", "-l", "app=reviews,version=v2").stdout)
    assert list(v2) == ["reviews-v2"], v2
    none = mesh.pilotfish("get", "pods", "-l", "app=nothing")
    assert none.returncode == 0 and "No resources found" in none.stderr, none.stderr
    labelled = _table(mesh.pilotfish("get", "pods", "-l", "app").stdout)  # has the label
    assert "ratings-v1-0" in labelled and "reviews-v3-0" in labelled, labelled
    bad = mesh.pilotfish("get", "pods", "-l", "app in ratings")
    assert bad.returncode == 1 and "expected key=value" in bad.stderr, bad.stderr


def test_get_several_names_of_one_kind(mesh: LocalMesh) -> None:
    """kubectl's `get svc A B`: the names in the order given; a missing one is an error on
    stderr (exit 1) and the others still print."""
    services = mesh.pilotfish("get", "svc", "reviews", "details", "productpage")
    assert services.returncode == 0, services.stderr
    assert list(_table(services.stdout)) == ["reviews", "details", "productpage"]
    some = mesh.pilotfish("get", "pods", "reviews-v2-0", "nosuch", "ratings-v1-0")
    assert some.returncode == 1
    assert list(_table(some.stdout)) == ["reviews-v2-0", "ratings-v1-0"], some.stdout
    assert some.stderr == 'Error from server (NotFound): pods "nosuch" not found\n'
    vs = mesh.pilotfish("get", "vs", "nosuch", "bookinfo", "-o", "yaml")
    assert vs.returncode == 1
    assert vs.stderr == (
        'Error from server (NotFound): virtualservices.networking.istio.io "nosuch" not found\n'
    )
    listed = YAML(typ="safe").load(vs.stdout)  # several names: kubectl's List, even of one found
    assert listed["kind"] == "List", vs.stdout
    assert [i["metadata"]["name"] for i in listed["items"]] == ["bookinfo"]
    typed = mesh.pilotfish("get", "svc/ratings", "svc/details", "-o", "json")
    assert typed.returncode == 0, typed.stderr
    names = [i["metadata"]["name"] for i in json.loads(typed.stdout)["items"]]
    assert names == ["ratings", "details"], typed.stdout
    none = mesh.pilotfish("get", "svc", "nosuch", "gone")
    assert (none.returncode, none.stdout) == (1, ""), none.stdout
    assert none.stderr.count("Error from server (NotFound)") == 2, none.stderr


def test_get_deploy_and_get_all(mesh: LocalMesh) -> None:
    deploys = _table(mesh.pilotfish("get", "deploy").stdout)
    assert deploys["reviews-v2"][1] == "1/1", deploys
    every = mesh.pilotfish("get", "all").stdout
    for name in ("pod/ratings-v1-0", "service/reviews", "deployment.apps/details-v1"):
        assert name in every, every


def test_create_with_the_namespace_before_the_subcommand(mesh: LocalMesh, tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    cert, key = pki.issue("httpbin", ["httpbin.example.com"])
    created = mesh.pilotfish(
        "create",
        "-n",
        "istio-system",
        "secret",
        "tls",
        "qa-before",
        "--key",
        str(key),
        "--cert",
        str(cert),
    )
    assert created.returncode == 0, created.stderr
    assert mesh.pilotfish("get", "secret", "qa-before", "-n", "istio-system").returncode == 0


def test_proxy_config_all_prints_every_table(mesh: LocalMesh) -> None:
    every = mesh.pilotfish("proxy-config", "all", "productpage-v1")
    assert every.returncode == 0 and every.stderr == "", every.stderr
    for header in (
        "DESTINATION RULE",
        "DESTINATION",
        "VHOST NAME",
        "OUTLIER CHECK",
        "RESOURCE NAME",
    ):
        assert header in every.stdout, (header, every.stdout[:3000])
    assert '"configs"' not in every.stdout and "@type" not in every.stdout
    secrets = mesh.pilotfish("proxy-config", "secret", "istio-ingressgateway", "-n", "istio-system")
    assert secrets.returncode == 0 and secrets.stderr == "", secrets.stderr


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_seeds_cluster_checks(mesh: LocalMesh) -> None:
    """The seed's first steps: `version --short`, `get nodes`, `describe nodes`,
    `top pods -n istio-system`, as kubectl/istioctl print them for this machine."""
    pods = json.loads(mesh.pilotfish("get", "pods", "-A", "-o", "json").stdout)["items"]
    version = mesh.pilotfish("version", "--short")
    assert version.returncode == 0, version.stderr
    assert f"({len(pods) - 1} proxies)" in version.stdout, version.stdout  # all but istiod
    nodes = mesh.pilotfish("get", "nodes", "-o", "wide")
    assert nodes.returncode == 0, nodes.stderr
    head, node = (line.split() for line in nodes.stdout.splitlines())
    assert head[:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"], head
    istiod = next(p for p in pods if p["metadata"]["name"] == "istiod-0")
    assert node[:3] == ["localhost", "Ready", "control-plane"]
    # kubectl's invariant: the node's InternalIP is every pod's hostIP (here the ingress address,
    # where the gateway's node ports answer)
    assert node[5] == istiod["status"]["hostIP"] == mesh.info["ingress_address"], nodes.stdout
    described = mesh.pilotfish("describe", "nodes")
    assert described.returncode == 0, described.stderr
    assert f"Non-terminated Pods:  ({len(pods)} in total)" in described.stdout
    assert "productpage-v1-0" in described.stdout
    assert mesh.pilotfish("get", "node", "elsewhere").returncode == 1


def test_top_pods_and_nodes_read_the_pods_processes(mesh: LocalMesh) -> None:
    system = mesh.pilotfish("top", "pods", "-n", "istio-system")
    assert system.returncode == 0, system.stderr
    rows = _table(system.stdout)
    assert system.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    listed = _table(mesh.pilotfish("get", "pods", "-n", "istio-system").stdout)
    assert set(rows) == set(listed) and "istiod-0" in rows, (rows, listed)
    assert all(r[1].endswith("m") and r[2].endswith("Mi") for r in rows.values()), rows
    proxy = mesh.proxy("productpage-v1-0.default")
    split = mesh.pilotfish("top", "pod", "productpage-v1-0", "--containers")
    assert split.returncode == 0, split.stderr
    containers = {line.split()[1]: line.split() for line in split.stdout.splitlines()[1:]}
    assert set(containers) == {"productpage", "istio-proxy"}, split.stdout
    shown = int(containers["istio-proxy"][3].removesuffix("Mi"))
    assert abs(shown - _rss_mib(int(proxy["envoy_pid"]))) <= max(2, shown * 0.1), split.stdout
    nodes = mesh.pilotfish("top", "nodes")
    assert nodes.returncode == 0, nodes.stderr
    node = nodes.stdout.splitlines()[1].split()
    assert node[0] == "localhost" and node[2].endswith("%") and node[4].endswith("%"), node
    missing = mesh.pilotfish("top", "pod", "nosuch-0")
    assert missing.returncode == 1 and 'pods "nosuch-0" not found' in missing.stderr
