"""kubectl habits Istio's docs and everyday use rely on, on a running mesh (httpbin and Istio's
sleep sample): the objects every namespace has without anyone applying them (the `default`
ServiceAccount, Istio's `istio-ca-root-cert` ConfigMap holding the roots the sidecars trust),
`get`'s `--field-selector`, `--sort-by`, `-o custom-columns[-file]`, `get deploy -o wide`, and
`logs`' `--since`, `--timestamps`, `--previous`, `--all-containers`, `--prefix`."""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

SLEEP = "tests/data/istio-samples/sleep.yaml"
ROOT_CERT_PATH = "jsonpath={.data.root-cert\\.pem}"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as m:
        pilotfish_ok(m, "apply", "-f", SLEEP)
        yield m


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip("\n").splitlines()]


def trusted_roots(mesh: LocalMesh, pod: str, namespace: str = "default") -> str:
    """The PEM of the ROOTCA secret the pod's Envoy holds (what it trusts), as istioctl's
    `proxy-config secret -o json` shows it."""
    dump = json.loads(
        pilotfish_ok(mesh, "proxy-config", "secret", pod, "-n", namespace, "-o", "json")
    )
    (root,) = [s["secret"] for s in dump["dynamicActiveSecrets"] if s["name"] == "ROOTCA"]
    return base64.b64decode(root["validationContext"]["trustedCa"]["inlineBytes"]).decode()


def test_every_namespace_has_a_default_service_account(mesh: LocalMesh) -> None:
    listed = rows(pilotfish_ok(mesh, "get", "sa"))
    assert listed[0] == ["NAME", "SECRETS", "AGE"], listed
    assert [r[:2] for r in listed[1:]] == [["default", "0"], ["httpbin", "0"], ["sleep", "0"]]
    one = pilotfish_ok(mesh, "get", "serviceaccount", "default", "-o", "json")
    account = json.loads(one)
    assert (account["apiVersion"], account["kind"]) == ("v1", "ServiceAccount"), one
    assert account["metadata"]["name"] == "default"
    assert account["metadata"]["namespace"] == "default"
    assert "creationTimestamp" in account["metadata"], one
    pilotfish_ok(mesh, "create", "namespace", "team-a")
    every = rows(pilotfish_ok(mesh, "get", "sa", "-A"))
    defaults = [r[0] for r in every[1:] if r[1] == "default"]
    assert defaults == ["default", "istio-system", "team-a"], every
    alone = rows(pilotfish_ok(mesh, "get", "sa", "-n", "team-a", "--no-headers"))
    assert [r[:2] for r in alone] == [["default", "0"]], alone
    # kubectl's `all` category holds neither service accounts nor config maps
    shown = pilotfish_ok(mesh, "get", "all", "-A")
    assert "serviceaccount/" not in shown and "configmap/" not in shown, shown
    assert "pod/sleep-0" in shown, shown


def test_root_cert_configmap_holds_what_the_sidecars_trust(mesh: LocalMesh) -> None:
    pem = pilotfish_ok(mesh, "get", "cm", "istio-ca-root-cert", "-o", ROOT_CERT_PATH)
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n"), pem
    assert pem == trusted_roots(mesh, "httpbin-v1-0")
    every = rows(pilotfish_ok(mesh, "get", "cm", "-A"))
    holders = [r[0] for r in every[1:] if r[1] == "istio-ca-root-cert"]
    assert {"default", "istio-system"} <= set(holders), every
    assert all(r[2] == "1" for r in every[1:] if r[1] == "istio-ca-root-cert"), every
    shown = json.loads(
        pilotfish_ok(mesh, "get", "cm", "istio-ca-root-cert", "-n", "istio-system", "-o", "json")
    )
    assert shown["metadata"]["labels"] == {"istio.io/config": "true"}, shown
    assert shown["data"] == {"root-cert.pem": pem}
    bracket = pilotfish_ok(
        mesh, "get", "cm", "istio-ca-root-cert", "-o", "jsonpath={.data['root-cert.pem']}"
    )
    assert bracket == pem
    missing = mesh.pilotfish("get", "cm", "istio-ca-root-cert", "-n", "nosuch")
    assert missing.returncode == 1, missing.stdout
    assert 'configmaps "istio-ca-root-cert" not found' in missing.stderr, missing.stderr


def test_the_injection_pages_webhook_checks(mesh: LocalMesh) -> None:
    """Istio's "Sidecar Injection Problems" page: the injector's opt-in `namespaceSelector`
    (its `grep "namespaceSelector:" -A5`), its caBundle against the root-cert ConfigMap (the
    page's two md5sums, here compared directly), and both webhook configurations listed as
    kubectl lists them. Before: `the server doesn't have a resource type`."""
    listed = rows(pilotfish_ok(mesh, "get", "mutatingwebhookconfiguration"))
    assert listed[0] == ["NAME", "WEBHOOKS", "AGE"] and listed[1][:2] == [
        "istio-sidecar-injector", "4"
    ], listed  # fmt: skip
    shown = pilotfish_ok(mesh, "get", "mutatingwebhookconfiguration", "istio-sidecar-injector",
                         "-o", "yaml")  # fmt: skip
    opt_in = "  namespaceSelector:\n    matchExpressions:\n    - key: istio-injection\n"
    assert opt_in + "      operator: In\n      values:\n      - enabled\n" in shown, shown
    assert "&id" not in shown, shown  # plain YAML, no anchors
    bundle = pilotfish_ok(mesh, "get", "mutatingwebhookconfiguration", "istio-sidecar-injector",
                          "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")  # fmt: skip
    pem = pilotfish_ok(mesh, "-n", "istio-system", "get", "configmap", "istio-ca-root-cert",
                       "-o", ROOT_CERT_PATH)  # fmt: skip
    assert bundle == base64.b64encode(pem.encode()).decode(), (bundle, pem)
    names = pilotfish_ok(mesh, "get", "validatingwebhookconfigurations", "-o", "name")
    assert names == (
        "validatingwebhookconfiguration.admissionregistration.k8s.io/istio-validator-istio-system\n"
    )
    # the page's check of the default policy (before: configmaps "…" not found)
    config = pilotfish_ok(mesh, "-n", "istio-system", "get", "configmap",
                          "istio-sidecar-injector", "-o", "jsonpath={.data.config}")  # fmt: skip
    assert [line for line in config.splitlines() if "policy:" in line] == ["policy: enabled"]
    missing = mesh.pilotfish("get", "mutatingwebhookconfiguration", "nope")
    assert missing.returncode == 1
    expected = 'mutatingwebhookconfigurations.admissionregistration.k8s.io "nope" not found'
    assert expected in missing.stderr, missing.stderr


WAITING = """\
apiVersion: v1
kind: Pod
metadata: {name: waiting, labels: {app: waiting}}
spec:
  containers:
  - name: waiting
    image: docker.io/curlimages/curl:8.16.0
    command: ["/bin/sleep", "infinity"]
    env:
    - {name: LATER, valueFrom: {configMapKeyRef: {name: later, key: k}}}
"""


def test_field_selectors_as_the_api_server_serves_them(mesh: LocalMesh) -> None:
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=WAITING)  # Pending: its ConfigMap is missing
    try:

        def names(*args: str) -> list[str]:
            return pilotfish_ok(mesh, "get", *args, "-o", "name").split()

        assert names("pods", "--field-selector", "status.phase=Running") == [
            "pod/httpbin-v1-0",
            "pod/sleep-0",
        ]
        assert names("pods", "--field-selector=status.phase!=Running") == ["pod/waiting"]
        assert names("pods", "--field-selector", "status.phase==Pending,metadata.name=waiting")
        assert names("pods", "-A", "--field-selector", "metadata.namespace!=default") == [
            "pod/istio-ingressgateway-0",
            "pod/istiod-0",
        ]
        running = ["--field-selector", "spec.nodeName=localhost,status.phase=Running"]
        assert names("pods", "-A", *running, "-l", "app") == [
            "pod/httpbin-v1-0",
            "pod/sleep-0",
            "pod/istio-ingressgateway-0",
            "pod/istiod-0",
        ]
        assert names("svc", "--field-selector", "metadata.name=sleep") == ["service/sleep"]
        ip = mesh.proxy("sleep-0.default")["ip"]
        assert names("pods", "--field-selector", f"status.podIP={ip}") == ["pod/sleep-0"]
        none = mesh.pilotfish("get", "pods", "--field-selector", "metadata.name=nosuch")
        assert (none.returncode, none.stdout) == (0, ""), none.stderr
        assert none.stderr == "No resources found in default namespace.\n"
        bad = mesh.pilotfish("get", "pods", "-l", "app=sleep", "--field-selector", "spec.foo=x")
        assert (bad.returncode, bad.stdout) == (1, "")
        assert bad.stderr == (
            'Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label'
            ' selector "app=sleep", field selector "spec.foo=x": field label not supported:'
            " spec.foo\n"
        )
        crd = mesh.pilotfish("get", "vs", "--field-selector", "spec.hosts=x")
        assert crd.returncode == 1 and crd.stderr.endswith(
            ': "spec.hosts" is not a known field selector: only "metadata.name",'
            ' "metadata.namespace"\n'
        ), crd.stderr
        garbled = mesh.pilotfish("get", "pods", "--field-selector", "status.phase")
        assert garbled.returncode == 1 and "can't understand 'status.phase'" in garbled.stderr
    finally:
        pilotfish_ok(mesh, "delete", "-f", "-", stdin=WAITING)
        # pilotfish's delete returns once the pod has left the registry (its endpoints), before
        # its processes have stopped, where kubectl's waits for the object to be gone: the next
        # test lists every pod, so wait as a kubectl user would (`kubectl wait --for=delete`)
        pilotfish_ok(mesh, "wait", "--for=delete", "pod/waiting", "--timeout=60s")


def test_sort_by_a_json_path(mesh: LocalMesh) -> None:
    by_name = pilotfish_ok(mesh, "get", "pods", "-A", "--sort-by=.metadata.name", "--no-headers")
    assert [r[1] for r in rows(by_name)] == [
        "httpbin-v1-0",
        "istio-ingressgateway-0",
        "istiod-0",
        "sleep-0",
    ], by_name
    by_ip = rows(pilotfish_ok(mesh, "get", "pods", "-A", "--sort-by", "{.status.podIP}"))
    ips = [str(mesh.proxy(f"{r[1]}.{r[0]}")["ip"]) for r in by_ip[1:] if r[1] != "istiod-0"]
    assert ips == sorted(ips, key=lambda a: [int(x) for x in a.split(".")]), by_ip
    by_age = json.loads(
        pilotfish_ok(mesh, "get", "sa", "-A", "--sort-by=metadata.creationTimestamp", "-o", "json")
    )
    stamps = [i["metadata"]["creationTimestamp"] for i in by_age["items"]]
    assert stamps == sorted(stamps) and len(stamps) >= 3, stamps
    listed = json.loads(
        pilotfish_ok(mesh, "get", "svc", "--sort-by=.spec.ports[0].port", "-o", "json")
    )
    assert [i["spec"]["ports"][0]["port"] for i in listed["items"]] == [80, 8000], listed
    missing = mesh.pilotfish("get", "pods", "--sort-by=.metadata.nosuch")
    assert (missing.returncode, missing.stderr) == (
        1,
        'error: couldn\'t find any field with path "{.metadata.nosuch}" in the list of objects\n',
    )


def test_custom_columns(mesh: LocalMesh, tmp_path: Any) -> None:
    spec = "NAME:.metadata.name,CONTAINERS:.spec.containers[*].name,IP:.status.podIP,X:.nope"
    shown = pilotfish_ok(mesh, "get", "pods", "-o", f"custom-columns={spec}")
    ip = mesh.proxy("sleep-0.default")["ip"]
    assert rows(shown) == [
        ["NAME", "CONTAINERS", "IP", "X"],
        ["httpbin-v1-0", "httpbin,istio-proxy", mesh.proxy("httpbin-v1-0.default")["ip"], "<none>"],
        ["sleep-0", "sleep,istio-proxy", ip, "<none>"],
    ], shown
    header = shown.splitlines()[0]
    assert header.index("CONTAINERS") == len("httpbin-v1-0") + 3, shown  # kubectl's tab writer
    labels = pilotfish_ok(
        mesh, "get", "svc", "sleep", "-o", "custom-columns=SEL:spec.selector", "--no-headers"
    )
    assert labels == "map[app:sleep]\n", labels
    kinds = "custom-columns=KIND:{.kind},N:.metadata.name"
    both = pilotfish_ok(mesh, "get", "svc/sleep", "deploy/sleep", "-o", kinds)
    assert rows(both) == [["KIND", "N"], ["Service", "sleep"], ["Deployment", "sleep"]], both
    template = tmp_path / "columns.txt"
    template.write_text(
        "NAME      IMAGES\n.metadata.name   {.spec.template.spec.containers[*].image}\n"
    )
    from_file = pilotfish_ok(
        mesh, "get", "deploy", "sleep", "-o", f"custom-columns-file={template}"
    )
    assert rows(from_file) == [["NAME", "IMAGES"], ["sleep", "docker.io/curlimages/curl:8.16.0"]]
    empty = mesh.pilotfish("get", "vs", "-o", "custom-columns=NAME:.metadata.name")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "NAME\n", "")
    refused = mesh.pilotfish("get", "pods", "-o", "custom-columns=NAME")
    assert (refused.returncode, refused.stderr) == (
        1,
        "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n",
    )
    template.write_text("NAME IP\n.metadata.name\n")
    uneven = mesh.pilotfish("get", "pods", "-o", f"custom-columns-file={template}")
    assert uneven.returncode == 1
    assert "number of headers (2) and field specifications (1) don't match" in uneven.stderr


def test_get_deploy_wide_and_pods_show_labels(mesh: LocalMesh) -> None:
    wide = rows(pilotfish_ok(mesh, "get", "deploy", "-A", "-o", "wide"))
    assert wide[0] == [
        "NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE",
        "CONTAINERS", "IMAGES", "SELECTOR",
    ]  # fmt: skip
    by_name = {r[1]: r for r in wide[1:]}
    assert by_name["sleep"][6:] == ["sleep", "docker.io/curlimages/curl:8.16.0", "app=sleep"]
    assert by_name["httpbin-v1"][6] == "httpbin", wide  # the app; not the injected proxy
    assert by_name["httpbin-v1"][8] == "app=httpbin,version=v1", wide
    assert by_name["istiod"][6] == "discovery" and by_name["istiod"][8] == "app=istiod"
    pods = rows(pilotfish_ok(mesh, "get", "pods", "-o", "wide"))
    assert pods[0][5:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"], pods
    labelled = rows(pilotfish_ok(mesh, "get", "pods", "--show-labels", "-l", "app=sleep"))
    assert labelled[0][-1] == "LABELS" and labelled[1][0] == "sleep-0", labelled
    assert "app=sleep" in labelled[1][-1].split(","), labelled
    assert "security.istio.io/tlsMode=istio" in labelled[1][-1].split(","), labelled


ACCESS_LOGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
"""
STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)Z (.*)$")


def stamped(text: str) -> list[tuple[float, str]]:
    """`logs --timestamps` lines: (unix seconds, the line), each asserted RFC 3339 in UTC."""
    found = []
    for line in text.splitlines():
        match = STAMPED.match(line)
        assert match is not None, line
        day, _, fraction = match.group(1).partition(".")
        when = datetime.datetime.strptime(day, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
        found.append((when.timestamp() + float(f"0.{fraction or 0}"), match.group(2)))
    return found


def test_logs_timestamps_since_tail_and_prefix(mesh: LocalMesh) -> None:
    """The sidecar's access log (the mesh's `accessLogFile: /dev/stdout`): each line's arrival
    time, `--since` keeping the newer requests only, `--tail` with `-l`, and
    `--all-containers --prefix` naming each line's pod and container."""
    pilotfish_ok(mesh, "apply", "-f", "-", stdin=ACCESS_LOGS)

    def calls(marker: str) -> tuple[float, float]:
        before = time.time()
        url = f"http://httpbin:8000/status/200?{marker}=[1-6]"  # curl's URL globbing: 6 calls
        pilotfish_ok(mesh, "exec", "sleep-0", "--", "curl", "-s", "-o", "/dev/null", url)
        return before, time.time()

    first = calls("first")
    time.sleep(4)
    second = calls("second")
    proxy = ["logs", "sleep-0", "-c", "istio-proxy"]

    def lines_of(marker: str) -> list[tuple[float, str]]:
        return [(t, line) for t, line in stamped(shown) if f"?{marker}=" in line]

    mesh.wait_for(lambda: "?second=6" in pilotfish_ok(mesh, *proxy), what="the flushed access log")
    shown = pilotfish_ok(mesh, *proxy, "--timestamps")
    olds, news = lines_of("first"), lines_of("second")
    assert len(olds) == len(news) == 6, shown
    flush = 2.5  # the sidecar flushes its access log every second
    assert all(first[0] <= t <= first[1] + flush for t, _ in olds), (first, olds)
    assert all(second[0] <= t <= second[1] + flush for t, _ in news), (second, news)
    middle = (olds[-1][0] + news[0][0]) / 2
    since = f"{time.time() - middle:.1f}s"  # between the two bursts
    recent = pilotfish_ok(mesh, *proxy, "--since", since)
    assert "?second=1" in recent and "?first=" not in recent, (since, recent)
    assert pilotfish_ok(mesh, *proxy, "--since=1h").count("?first=") == 6
    assert (
        pilotfish_ok(mesh, *proxy, "--tail", "2", "--timestamps").splitlines()
        == (shown.splitlines()[-2:])
    )
    by_label = pilotfish_ok(mesh, "logs", "-l", "app=sleep", "-c", "istio-proxy", "--tail=10")
    assert by_label.splitlines() == pilotfish_ok(mesh, *proxy).splitlines()[-10:]
    default = pilotfish_ok(mesh, "logs", "-l", "app=sleep", "-c", "istio-proxy")
    assert default == by_label  # kubectl's `--tail` with a selector: 10 lines per pod
    whole = pilotfish_ok(mesh, "logs", "-l", "app=sleep", "-c", "istio-proxy", "--tail=-1")
    assert whole == pilotfish_ok(mesh, *proxy)
    tail = ["--tail", "10"]
    every = pilotfish_ok(mesh, "logs", "-l", "app=httpbin", "--all-containers", "--prefix", *tail)
    heads = [line.split("] ", 1)[0] + "]" for line in every.splitlines()]
    assert heads[:10] == ["[pod/httpbin-v1-0/httpbin]"] * 10, every
    assert heads[10:] == ["[pod/httpbin-v1-0/istio-proxy]"] * 10, every
    assert "?second=6" in every.splitlines()[9] and "?second=6" in every.splitlines()[-1]
    bad = mesh.pilotfish(*proxy, "--since", "5x")
    assert (bad.returncode, bad.stderr) == (
        1,
        'error: invalid argument "5x" for "--since" flag: time: unknown unit "x" in duration'
        ' "5x"\n',
    )


def test_logs_previous_after_a_restart(mesh: LocalMesh) -> None:
    """The app killed: the kubelet restarts its container; `logs` shows the new run's output,
    `--previous` the run that died, and a container that never restarted has none."""
    never = mesh.pilotfish("logs", "httpbin-v1-0", "--previous")
    assert (never.returncode, never.stderr) == (
        1,
        'Error from server (BadRequest): previous terminated container "httpbin" in pod'
        ' "httpbin-v1-0" not found\n',
    )
    before = pilotfish_ok(mesh, "logs", "httpbin-v1-0", "--timestamps")
    assert "?second=6" in before, before
    pid = int(mesh.info["proxies"]["httpbin-v1-0.default"]["app_pid"])
    os.kill(pid, signal.SIGKILL)  # the app of the mesh this test started
    mesh.wait_for(
        lambda: mesh.info["proxies"]["httpbin-v1-0.default"]["app_restarts"] == 1,
        what="the app's restart",
    )
    pilotfish_ok(mesh, "wait", "--for=condition=Ready", "pod/httpbin-v1-0", "--timeout=60s")
    mesh.wait_for(lambda: "listening on" in pilotfish_ok(mesh, "logs", "httpbin-v1-0"))
    current = pilotfish_ok(mesh, "logs", "httpbin-v1-0", "--timestamps")
    assert stamped(current)[0][1].startswith("listening on"), current  # the new run's first
    assert "?second=" not in current, current
    previous = pilotfish_ok(mesh, "logs", "httpbin-v1-0", "--previous", "--timestamps")
    assert previous == before
    assert stamped(previous)[-1][0] <= stamped(current)[0][0]
    proxy = mesh.pilotfish("logs", "httpbin-v1-0", "-c", "istio-proxy", "-p")
    assert proxy.returncode == 1 and 'container "istio-proxy" in pod' in proxy.stderr
    assert rows(pilotfish_ok(mesh, "get", "pod", "httpbin-v1-0"))[1][3] == "1"  # RESTARTS
