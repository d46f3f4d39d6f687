"""kubectl habits Istio's docs and everyday use rely on, on a running mesh (httpbin and Istio's
sleep sample): the objects every namespace has without anyone applying them (the `default`
ServiceAccount, Istio's `istio-ca-root-cert` ConfigMap holding the roots the sidecars trust),
`get`'s `--field-selector`, `--sort-by`, `-o custom-columns[-file]`, `get deploy -o wide`, and
`logs`' `--since`, `--timestamps`, `--previous`, `--all-containers`, `--prefix`."""

from __future__ import annotations

import base64
import json
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
