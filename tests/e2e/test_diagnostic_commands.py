"""istioctl's diagnostic commands from Istio's Operations > Diagnostic Tools pages, on one real
mesh (httpbin, then sleep): "Component Logging"'s `istioctl admin log` lists the control plane's
scopes and changes what it really logs; "ControlZ"'s `istioctl dashboard controlz` opens its
introspection page on 9876; the control plane's metrics page (15014) is istiod's."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import LocalMesh, http, running_mesh

from pilotfish import __version__
from pilotfish.local.client import control_plane_log

HEADER = ["ACTIVE SCOPE", "DESCRIPTION", "LOG LEVEL", "STACK TRACE LEVEL"]
PUSH = re.compile(r"DEBUG pilotfish\.xds: \w+: PUSH for node:\S+ resources:\d+ size:\d+B")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as running:
        yield running


def scopes(mesh: LocalMesh) -> dict[str, list[str]]:
    """`admin log`'s table, cut at the header's column starts (descriptions hold blanks)."""
    result = mesh.pilotfish("admin", "log")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    starts = [lines[0].index(name) for name in HEADER]
    assert lines[0][: starts[1]].strip() == "ACTIVE SCOPE", lines[0]
    return {
        row[0]: row
        for row in (
            [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
            for line in lines[1:]
        )
    }


def cp_log(mesh: LocalMesh) -> str:
    return control_plane_log(mesh.home).read_text()


STRICT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: httpbin-strict}
spec:
  selector: {matchLabels: {app: httpbin}}
  mtls: {mode: STRICT}
"""


def push_to_httpbin(mesh: LocalMesh) -> None:
    """A change of httpbin's inbound listener (STRICT mTLS on, or off again): a push to it."""
    listed = mesh.pilotfish("get", "peerauthentication", "httpbin-strict")
    if listed.returncode == 0:
        changed = mesh.pilotfish("delete", "peerauthentication", "httpbin-strict")
    else:
        changed = mesh.pilotfish("apply", "-f", "-", stdin=STRICT)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "converged: no proxy" not in changed.stdout, changed.stdout


def test_the_metrics_page_counts_proxies_by_their_version_as_istiod(mesh: LocalMesh) -> None:
    """`pilot_xds{version}`: every connected proxy under its agent's version (its node's
    ISTIO_VERSION, as pilot-agent sends it), and no series istiod does not export."""
    text = http(f"{mesh.info['api']}/metrics").body
    proxies = len(mesh.info["proxies"])
    assert f'pilot_xds{{version="{__version__}"}} {proxies}.0' in text, text
    assert 'version="unknown"' not in text and "_created" not in text, text


def test_admin_log_lists_scopes_and_a_level_change_changes_the_log(mesh: LocalMesh) -> None:
    table = scopes(mesh)
    assert list(table) == sorted(table)  # istioctl sorts by name
    assert {"ads", "ca", "default", "validation"} <= set(table)
    assert table["ads"][1].startswith("ads debugging")
    assert all(row[2:] == ["info", "none"] for row in table.values()), table
    push_to_httpbin(mesh)
    assert not PUSH.search(cp_log(mesh))  # info: no push lines

    same = mesh.pilotfish("istiod", "l", "istiod-0", "--level", "ads:debug,ca:warn")
    assert same.returncode == 0 and same.stdout == "", same.stdout + same.stderr
    table = scopes(mesh)
    assert table["ads"][2] == "debug" and table["ca"][2] == "warn"
    assert table["default"][2] == "info"
    push_to_httpbin(mesh)  # a push to httpbin's sidecar: logged at debug
    assert re.search(
        PUSH.pattern.replace(r"node:\S+", r"node:sidecar~\S+~httpbin-v1-0\.default~\S+"),
        cp_log(mesh),
    )

    stack = mesh.pilotfish("admin", "log", "--stack-trace-level", "ads:debug")
    assert stack.returncode == 0, stack.stderr
    assert scopes(mesh)["ads"][3] == "debug"
    push_to_httpbin(mesh)
    text = cp_log(mesh)
    stack_at = text.find("Stack (most recent call last):")  # after each ads record at debug
    assert stack_at > 0 and "pilotfish/xds/connection.py" in text[stack_at:], text[-2000:]

    reset = mesh.pilotfish("admin", "log", "--reset")
    assert reset.returncode == 0, reset.stderr
    assert all(row[2:] == ["info", "none"] for row in scopes(mesh).values())
    before = len(PUSH.findall(cp_log(mesh)))
    push_to_httpbin(mesh)
    assert len(PUSH.findall(cp_log(mesh))) == before  # info again: no new push lines
    mesh.pilotfish("delete", "peerauthentication", "httpbin-strict")


HTTPBIN_GET = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin-get}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules:
  - to: [{operation: {methods: [GET]}}]
"""


def test_authorization_debug_says_which_policies_apply_to_each_proxy(mesh: LocalMesh) -> None:
    """Istio's pages debug a policy with `istioctl admin log --level authorization:debug`:
    istiod's `authorization` scope then says, as a change reaches each proxy, the policies that
    apply to it and the RBAC names of their rules."""
    assert scopes(mesh)["authorization"][1:3] == ["Istio Authorization Policy", "info"]
    said = "DEBUG pilotfish.authorization: Processed authorization policy for httpbin-v1-0.default"
    set_debug = mesh.pilotfish("admin", "log", "--level", "authorization:debug")
    try:
        assert set_debug.returncode == 0, set_debug.stderr
        applied = mesh.pilotfish("apply", "-f", "-", stdin=HTTPBIN_GET)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        log = cp_log(mesh)
        assert (
            f"{said} with details:\n\t* ALLOW policy default/httpbin-get: "
            "ns[default]-policy[httpbin-get]-rule[0]\n"
        ) in log, log[-3000:]
    finally:
        mesh.pilotfish("delete", "authorizationpolicy", "httpbin-get")
        mesh.pilotfish("admin", "log", "--level", "authorization:info")
    assert f"{said}: no AuthorizationPolicy applies" in cp_log(mesh)  # debug until the reset
    assert scopes(mesh)["authorization"][2] == "info"


def test_admin_log_output_formats_and_bad_input(mesh: LocalMesh) -> None:
    listed = json.loads(mesh.pilotfish("admin", "log", "-o", "json").stdout)
    assert {"scope_name": "ca", "log_level": "info", "stack_trace_level": "none",
            "description": "CA service debugging"} in listed  # fmt: skip
    yaml_out = mesh.pilotfish("admin", "log", "-o", "yaml").stdout
    assert "- description: CA service debugging\n  log_level: info\n" in yaml_out, yaml_out
    for args, said in (
        (["--level", "ads:verbose"], "pattern ads:verbose did not match"),
        (["--level", "nosuch:debug"], "failed updating Scope nosuch: got status 400"),
        (["--level", "ads:debug", "--reset"], "--level cannot be combined with --reset"),
        (["-o", "table"], 'output format "table" not supported'),
        (["istiod-7"], 'pods "istiod-7" not found'),
    ):
        result = mesh.pilotfish("admin", "log", *args)
        assert result.returncode != 0 and said in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert scopes(mesh)["ads"][2] == "info"  # nothing changed


def test_a_level_change_needs_the_owners_token(mesh: LocalMesh) -> None:
    """An attacker on the machine (no admin token) can read the scopes but not change them:
    not with no token, a wrong one, or a form posted from another origin."""
    host = mesh.info["api"].split("//", 1)[1].rsplit(":", 1)[0]
    base = f"http://{host}:9876"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{base}/scopej/", timeout=10) as resp:
        assert resp.status == 200 and any(s["name"] == "ads" for s in json.load(resp))
    debug = json.dumps({"output_level": "debug"}).encode()
    put = f"{base}/scopej/ads"
    form = {"content-type": "application/x-www-form-urlencoded"}
    attempts = [
        urllib.request.Request(put, debug, method="PUT"),
        urllib.request.Request(put, debug, {"authorization": "Bearer guessed"}, method="PUT"),
        urllib.request.Request(f"{base}/scopez/", b"scope=ads&output_level=debug", form),
        urllib.request.Request(put, debug, {"host": "evil.example:9876"}, method="PUT"),
    ]
    for request in attempts:
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(request, timeout=10)
        assert refused.value.code in (401, 403), request.full_url
    assert scopes(mesh)["ads"][2] == "info"


def test_dashboard_controlz_opens_the_control_planes_page(mesh: LocalMesh) -> None:
    result = mesh.pilotfish("dashboard", "controlz", "istiod-0.istio-system", "--browser=false")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    host = mesh.info["api"].split("//", 1)[1].rsplit(":", 1)[0]
    assert url == f"http://{host}:9876/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as resp:
        page = resp.read().decode()
    assert "Logging Scopes" in page and "<td>ads</td>" in page and "Process ID" in page
    assert "Resident" in page and "--state-dir" in page  # memory, arguments
    assert f"http://{host}:15014/metrics" in page
    assert "PILOTFISH_HOME" not in page  # the environment: the owner's only
    wrong = mesh.pilotfish("dashboard", "controlz", "reviews-v1-0", "--browser=false")
    assert wrong.returncode == 1 and 'pods "reviews-v1-0" not found' in wrong.stderr


def test_dashboard_address_forwards_as_istioctls_port_forward(mesh: LocalMesh) -> None:
    """`istioctl dashboard envoy POD --address ADDR -p PORT --browser=false`: istioctl's URL of
    the forward, its `skipping opening a browser`, the Envoy admin through it; until Ctrl-C."""
    with socket.socket() as probe:  # a free port on the loopback address the test owns
        probe.bind((mesh.ingress, 0))
        port = probe.getsockname()[1]
    args = ["dashboard", "envoy", "deploy/httpbin-v1", "--address", mesh.ingress, "-p", str(port)]
    forwarding = subprocess.Popen(
        [sys.executable, "-m", "pilotfish", *args, "--browser=false"],
        env=mesh.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert forwarding.stdout is not None
        url = forwarding.stdout.readline().strip()
        assert url == f"http://{mesh.ingress}:{port}", url
        info = http(f"{url}/server_info")
        assert info.status == 200 and '"state": "LIVE"' in info.body, info
        assert mesh.proxy("httpbin-v1-0")["ip"] in info.body  # that pod's Envoy
    finally:
        forwarding.send_signal(signal.SIGINT)
        forwarding.wait(timeout=30)
    assert forwarding.returncode == 0, forwarding.stderr and forwarding.stderr.read()
    assert forwarding.stdout.read() == "skipping opening a browser"  # no newline, as istioctl


def test_tag_list_shows_the_default_revisions_tag(mesh: LocalMesh) -> None:
    """`istioctl tag list` after install: the `default` tag of revision `default`, with the
    namespaces labelled `istio.io/rev=default`, padded as istioctl's tabwriter (by one)."""
    listed = mesh.pilotfish("tag", "list")
    assert listed.stdout == "TAG     REVISION NAMESPACES\ndefault default  \n", listed
    mesh.pilotfish("create", "namespace", "tagged")
    mesh.pilotfish("label", "namespace", "tagged", "istio.io/rev=default")
    try:
        shown = json.loads(mesh.pilotfish("tag", "show", "-o", "json").stdout)
        assert shown == [{"tag": "default", "revision": "default", "namespaces": ["tagged"]}]
    finally:
        mesh.pilotfish("delete", "namespace", "tagged")
    moved = mesh.pilotfish("tag", "set", "prod-stable", "--revision", "1-30-0")
    assert moved.returncode == 1 and "one control plane revision" in moved.stderr, moved


def check_inject(mesh: LocalMesh, *args: str) -> list[str]:
    """The one row of `x check-inject`'s table, cut at the header's column starts."""
    result = mesh.pilotfish("x", "check-inject", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    header, row = result.stdout.splitlines()
    starts = [header.index(name) for name in ("WEBHOOK", "REVISION", "INJECTED", "REASON")]
    return [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]


def ready_column(mesh: LocalMesh, namespace: str, pod: str) -> str:
    listed = mesh.pilotfish("get", "pods", "-n", namespace).stdout.splitlines()
    return next(line.split()[1] for line in listed if line.startswith(pod))


def test_check_inject_says_why_a_pod_is_or_is_not_injected(mesh: LocalMesh) -> None:
    """The page's checks: the namespace label, the pod label, and the table's reason agrees
    with what the mesh did when the pod was applied."""
    row = check_inject(mesh, "deployment/httpbin-v1")
    assert row[:3] == ["istio-sidecar-injector", "default", "✔"], row
    assert row[3].startswith("Namespace label istio-injection=enabled matches"), row
    assert ready_column(mesh, "default", "httpbin-v1-0") == "2/2"
    assert check_inject(mesh, "httpbin-v1-0.default") == row

    assert mesh.pilotfish("create", "namespace", "foo").returncode == 0
    applied = mesh.pilotfish("apply", "-f", "samples/sleep/sleep.yaml", "-n", "foo")
    assert applied.returncode == 0, applied.stderr
    row = check_inject(mesh, "-n", "foo", "deployment/sleep")
    assert row[2:] == [
        "✘",
        "No matching namespace labels (istio.io/rev=default, istio-injection=enabled) "
        "or pod labels (istio.io/rev=default, sidecar.istio.io/inject=true)",
    ], row
    assert ready_column(mesh, "foo", "sleep-") == "1/1"  # not injected, as it says

    assert mesh.pilotfish("label", "namespace", "foo", "istio-injection=enabled").returncode == 0
    assert check_inject(mesh, "sleep.foo")[2:] == [
        "✔", "Namespace label istio-injection=enabled matches"
    ]  # fmt: skip
    noted = mesh.pilotfish("x", "check-inject", "sleep.foo").stderr
    assert noted.startswith("note: sleep-") and "runs without a sidecar" in noted, noted
    assert "`pilotfish rollout restart deployment/sleep -n foo`" in noted
    restarted = mesh.pilotfish("rollout", "restart", "deployment/sleep", "-n", "foo")
    assert restarted.returncode == 0, restarted.stderr
    mesh.wait_for(lambda: ready_column(mesh, "foo", "sleep-") == "2/2", what="the injected pod")
    assert mesh.pilotfish("x", "check-inject", "sleep.foo").stderr == ""
    assert check_inject(mesh, "-n", "foo", "-l", "app=sleep,sidecar.istio.io/inject=false")[2:] == [
        "✘", "Pod has sidecar.istio.io/inject=false label, preventing injection"
    ]  # fmt: skip
    relabel = ("label", "namespace", "foo", "istio-injection=disabled", "--overwrite")
    assert mesh.pilotfish(*relabel).returncode == 0
    assert check_inject(mesh, "-n", "foo", "-l", "sidecar.istio.io/inject=true")[2:] == [
        "✘", "Namespace has istio-injection=disabled label, preventing injection"
    ]  # fmt: skip
    for args, said in (
        ((), "check-inject requires only [<resource-type>/]<resource-name>[.<namespace>]"),
        (("deployment/nosuch",), 'pods "nosuch" not found'),
    ):
        result = mesh.pilotfish("x", "check-inject", *args)
        assert result.returncode == 1 and said in result.stderr, result.stderr
    mesh.pilotfish("delete", "-f", "samples/sleep/sleep.yaml", "-n", "foo")


CANARY_SLEEP = """apiVersion: apps/v1
kind: Deployment
metadata: {name: canary-sleep}
spec:
  selector: {matchLabels: {app: canary-sleep}}
  template:
    metadata:
      labels: {app: canary-sleep, istio.io/rev: canary}
    spec:
      containers:
      - {name: sleep, image: curlimages/curl, command: [/bin/sleep, infinity]}
"""


def test_a_revision_the_mesh_does_not_run_injects_nothing(mesh: LocalMesh) -> None:
    """`istio.io/rev=canary` on a namespace or a pod: Istio installs an injection webhook per
    revision, and this mesh runs only `default`, so no webhook matches and the pod has no
    sidecar; `apply` says so. Relabelled `istio.io/rev=default`, the namespace injects."""
    assert mesh.pilotfish("create", "namespace", "canary").returncode == 0
    labelled = mesh.pilotfish("label", "namespace", "canary", "istio.io/rev=canary")
    assert labelled.returncode == 0, labelled.stderr
    assert "any other revision has no injection webhook here" in labelled.stderr
    applied = mesh.pilotfish("apply", "-f", "samples/sleep/sleep.yaml", "-n", "canary")
    assert applied.returncode == 0, applied.stderr
    mesh.wait_for(lambda: ready_column(mesh, "canary", "sleep-") == "1/1", what="sleep, alone")
    assert check_inject(mesh, "-n", "canary", "deployment/sleep")[2:] == [
        "✘",
        "No matching namespace labels (istio.io/rev=default, istio-injection=enabled) "
        "or pod labels (istio.io/rev=default, sidecar.istio.io/inject=true)",
    ]
    relabel = ("label", "namespace", "canary", "istio.io/rev=default", "--overwrite")
    assert mesh.pilotfish(*relabel).returncode == 0
    restarted = mesh.pilotfish("rollout", "restart", "deployment/sleep", "-n", "canary")
    assert restarted.returncode == 0, restarted.stderr
    mesh.wait_for(lambda: ready_column(mesh, "canary", "sleep-") == "2/2", what="the injected pod")
    assert mesh.pilotfish("delete", "namespace", "canary").returncode == 0
    # a pod naming the revision, in `default` (local mode's istio-injection=enabled)
    pod = mesh.pilotfish("apply", "-f", "-", stdin=CANARY_SLEEP)
    assert pod.returncode == 0, pod.stderr
    assert (
        "Deployment canary-sleep at spec.template.metadata.labels[istio.io/rev]: label "
        "istio.io/rev=canary: this mesh runs only the revision default, so there is no "
        "injection webhook of revision 'canary': the pod gets no sidecar"
    ) in pod.stderr, pod.stderr
    mesh.wait_for(lambda: ready_column(mesh, "default", "canary-sleep-") == "1/1")
    assert mesh.pilotfish("delete", "deployment", "canary-sleep").returncode == 0


def test_rootca_compare_of_two_pods_of_the_mesh(mesh: LocalMesh) -> None:
    gateway = "istio-ingressgateway-0.istio-system"
    same = mesh.pilotfish("proxy-config", "rootca-compare", "httpbin-v1-0", gateway)
    assert same.returncode == 0, same.stderr
    assert same.stdout == (
        f"Both [httpbin-v1-0.default] and [{gateway}] have the identical ROOTCA, "
        "theoretically the connectivity between them is available\n"
    )
    again = mesh.pilotfish("pc", "rc", "deploy/httpbin-v1", gateway)  # istioctl's aliases
    assert again.stdout == same.stdout, again.stderr
    for args, said in (
        (["httpbin-v1-0"], "rootca-compare requires 2 pods as an argument"),
        (["httpbin-v1-0", "nosuch-0"], 'pods "nosuch-0" not found'),
    ):
        result = mesh.pilotfish("proxy-config", "rootca-compare", *args)
        assert result.returncode == 1 and said in result.stderr, result.stderr


DANGLING = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dangling}
spec:
  hosts: [httpbin]
  gateways: [nosuch]
  http:
  - route:
    - destination: {host: httpbin}
"""


def test_bug_report_archives_what_istioctl_collects(mesh: LocalMesh, tmp_path: Path) -> None:
    applied = mesh.pilotfish("apply", "-f", "samples/sleep/sleep.yaml", "-n", "bar")
    assert applied.returncode == 0, applied.stderr
    mesh.pilotfish("apply", "-f", "-", stdin=DANGLING)  # something for analyze to report
    levels = mesh.pilotfish("proxy-config", "log", "httpbin-v1-0", "--level", "config:debug")
    assert levels.returncode == 0, levels.stderr
    push_to_httpbin(mesh)  # something for its Envoy to log
    push_to_httpbin(mesh)
    result = mesh.pilotfish("bug-report", "--output-dir", str(tmp_path), "--exclude", "bar")
    assert result.returncode == 0, result.stdout + result.stderr
    archive = tmp_path / "bug-report.tar.gz"
    assert f"✅ Creating an archive at {archive}." in result.stdout
    assert "default/httpbin-v1-0/istio-proxy" in result.stdout and "✅ Done." in result.stdout
    with tarfile.open(archive) as opened:
        names = set(opened.getnames())

        def text(name: str) -> str:
            member = opened.extractfile(f"bug-report/{name}")
            assert member is not None, name
            return member.read().decode()

        istiod = "istio/istio-system/istiod-0"
        assert "control plane serving xDS" in text(f"{istiod}/discovery.log")
        assert "httpbin-v1-0.default" in text(f"{istiod}/debug/syncz")
        assert "pilot_xds_pushes" in text(f"{istiod}/metrics")
        assert "trustDomain: cluster.local" in text(f"{istiod}/debug/mesh")
        proxy = "proxies/default/httpbin-v1-0"
        dump = json.loads(text(f"{proxy}/config_dump?include_eds"))
        assert any("ClustersConfigDump" in c["@type"] for c in dump["configs"])
        assert "BEGIN PRIVATE KEY" not in text(f"{proxy}/config_dump?include_eds")
        assert "inbound|" in text(f"{proxy}/clusters")
        assert "envoy_server_live" in text(f"{proxy}/stats/prometheus")
        assert "\tdebug\tenvoy config " in text(f"{proxy}/istio-proxy.log")
        assert "bug-report/proxies/istio-system/istio-ingressgateway-0/clusters" in names
        assert not any(n.startswith("bug-report/proxies/bar/") for n in names)  # --exclude
        assert json.loads(text("versions"))["clientVersion"]["version"]
        report = text("analyze/allNamespaces/allNamespaces")
        dangling = "Error [IST0101] (VirtualService default/dangling) Referenced gateway not found"
        assert dangling in report, report
        assert report in result.stdout
    only = mesh.pilotfish("bug-report", "--output-dir", str(tmp_path), "--include", "bar",
                          "--skip-analyze")  # fmt: skip
    assert only.returncode == 0, only.stderr
    with tarfile.open(archive) as opened:
        proxies = {
            n.split("/")[2] for n in opened.getnames() if n.startswith("bug-report/proxies/")
        }
    assert proxies == {"bar"}
    assert not list(tmp_path.glob(".bug-report*"))  # written atomically, nothing left
    mesh.pilotfish("delete", "-f", "samples/sleep/sleep.yaml", "-n", "bar")
    mesh.pilotfish("delete", "virtualservice", "dangling")
    mesh.pilotfish("proxy-config", "log", "httpbin-v1-0", "--level", "config:warning")
