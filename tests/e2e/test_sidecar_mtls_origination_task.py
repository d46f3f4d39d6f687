"""Istio's "Egress TLS Origination" task, section "Mutual TLS origination for egress traffic":
the sleep pod's own sidecar originates mutual TLS with the client certificate of the Secret
`client-credential`, which Istio (1.14+) honours at a sidecar only in a DestinationRule with a
`workloadSelector` (`translate.sidecar_credentials`, `model.destination_rules`).

The page's commands and YAML as written: the certificates of "Egress Gateway TLS Origination"
(the page's openssl commands), `kubectl create secret generic client-credential …`, its RBAC, the
ServiceEntry `originate-mtls-for-nginx` (resolution NONE, port 31443) and the DestinationRule
(`workloadSelector: {matchLabels: {app: sleep}}`, MUTUAL with `credentialName`), then the
page's curl from the sleep pod. Adapted only where local mode must differ: the mutual TLS
server the gateway page deploys in `mesh-external` is a local stand-in that requires a client
certificate of the page's CA (l4kit's HTTPS server on port 31443 of its own loopback address,
with the page's server certificate), found by name through a stand-in DNS (`dnskit`,
PILOTFISH_DNS_RESOLVERS), as resolution NONE sends a sidecar to the address the name resolves
to. The page's two RBAC commands (`kubectl create role` / `rolebinding`) are run as written;
pilotfish stores them without enforcing them (a proxy reads the Secrets of its own namespace).

What a user sees is asserted: without the rule, or with the rule in another namespace, or with
a rule that has no selector (Istio gives that cluster no TLS at a sidecar), the server refuses
the request; with the page's rule, sleep gets the server's 200 with its client certificate;
another pod of the same namespace that the selector does not select (`curl`) still does not,
and `proxy-config cluster` names the rule for sleep's cluster alone.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.dnskit import dns_server
from tests.e2e.l4kit import http_server, random_loopback
from tests.e2e.meshctl import LocalMesh, pilotfish_ok, running_mesh

HOST = "my-nginx.mesh-external.svc.cluster.local"
# the certificates, as "Egress Gateway TLS Origination" makes them
OPENSSL = [
    "openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=exam"
    "ple.com' -keyout example.com.key -out example.com.crt",
    f"openssl req -out {HOST}.csr -newkey rsa:2048 -nodes -keyout {HOST}.key -subj "
    f'"/CN={HOST}/O=some organization"',
    f"openssl x509 -req -sha256 -days 365 -CA example.com.crt -CAkey example.com.key -set_serial 0"
    f" -in {HOST}.csr -out {HOST}.crt",
    "openssl req -out client.example.com.csr -newkey rsa:2048 -nodes -keyout client.example.com"
    '.key -subj "/CN=client.example.com/O=client organization"',
    "openssl x509 -req -sha256 -days 365 -CA example.com.crt -CAkey example.com.key -set_serial 1"
    " -in client.example.com.csr -out client.example.com.crt",
]
SECRET = [
    "create", "secret", "generic", "client-credential",
    "--from-file=tls.key=client.example.com.key", "--from-file=tls.crt=client.example.com.crt",
    "--from-file=ca.crt=example.com.crt",
]  # fmt: skip
RBAC = [
    ["create", "role", "client-credential-role", "--resource=secret", "--verb=get,list,watch"],
    ["create", "rolebinding", "client-credential-role-binding", "--role=client-credential-role",
     "--serviceaccount=default:sleep"],
]  # fmt: skip
SERVICE_ENTRY = """\
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata:
  name: originate-mtls-for-nginx
spec:
  exportTo:
  - .
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  location: MESH_EXTERNAL
  ports:
  - name: http-port-for-tls-origination
    number: 31443
    protocol: HTTP
  resolution: NONE
"""
DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
spec:
  workloadSelector:
    matchLabels:
      app: sleep
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 31443
      tls:
        mode: MUTUAL
        credentialName: client-credential # this must match the secret created earlier to hold client certs, and works only when DR has a workloadSelector
        sni: my-nginx.mesh-external.svc.cluster.local
"""  # noqa: E501 (the page's line)
URL = f"http://{HOST}:31443"
ANSWER = f"my-nginx / host={HOST}:31443 client=client.example.com"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("certs")
    for command in OPENSSL:
        done = subprocess.run(command, shell=True, cwd=here, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    return here


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[LocalMesh]:
    server = (certs / f"{HOST}.crt", certs / f"{HOST}.key")
    address = random_loopback()
    with (
        http_server("my-nginx", server, address, certs / "example.com.crt", port=31443),
        dns_server({HOST: address}) as dns,
        running_mesh(tmp_path_factory, None, env={"PILOTFISH_DNS_RESOLVERS": dns}) as m,
    ):
        pilotfish_ok(m, "apply", "-f", "samples/sleep/sleep.yaml")
        pilotfish_ok(m, "apply", "-f", "samples/curl/curl.yaml")
        yield m


def _curl(mesh: LocalMesh, app: str = "sleep") -> str:
    """The page's command: `kubectl exec "$(kubectl get pod -l app=sleep -o jsonpath=…)" -c
    sleep -- curl -sS http://my-nginx.mesh-external.svc.cluster.local:31443`."""
    pod = pilotfish_ok(mesh, "get", "pod", "-l", f"app={app}", "-o",
                       "jsonpath={.items..metadata.name}")  # fmt: skip
    done = mesh.pilotfish("exec", pod.strip(), "-c", app, "--", "curl", "-sS", "--max-time",
                          "10", URL)  # fmt: skip
    return done.stdout + done.stderr


def _apply(mesh: LocalMesh, text: str, *args: str) -> None:
    done = mesh.pilotfish("apply", *args, "-f", "-", stdin=text)
    assert done.returncode == 0, done.stdout + done.stderr


def _refused(mesh: LocalMesh, app: str = "sleep") -> bool:
    return "client=" not in _curl(mesh, app)


def _rule_of(mesh: LocalMesh, pod: str) -> str:
    """The DESTINATION RULE `proxy-config cluster` shows for the server's cluster ("" none)."""
    rows = json.loads(pilotfish_ok(mesh, "proxy-config", "cluster", pod, "--fqdn", HOST,
                                   "-o", "json"))  # fmt: skip
    found = [r for r in rows if r.get("name") == f"outbound|31443||{HOST}"]
    assert found, rows
    meta = found[0].get("metadata", {}).get("filterMetadata", {}).get("istio", {})
    return str(meta.get("config", ""))


def test_the_sidecar_originates_mutual_tls_for_the_pods_the_rule_selects(
    mesh: LocalMesh, certs: Path
) -> None:
    created = mesh.pilotfish(*SECRET, cwd=certs)  # the page's relative file names
    assert created.returncode == 0, created.stdout + created.stderr
    for command in RBAC:
        pilotfish_ok(mesh, *command)
    _apply(mesh, SERVICE_ENTRY)
    mesh.wait_for(lambda: "upstream" in _curl(mesh), 30, "the ServiceEntry to apply")
    assert _refused(mesh)  # plain HTTP to a server that speaks TLS: no answer
    _apply(mesh, DESTINATION_RULE)
    mesh.wait_for(lambda: not _refused(mesh), 40, "sleep's sidecar to originate mutual TLS")
    assert ANSWER in _curl(mesh)  # the server saw the Secret's client certificate
    assert _refused(mesh, "curl")  # same namespace, not selected: no rule, plain HTTP
    assert _rule_of(mesh, "sleep").endswith("/default/destination-rule/originate-mtls-for-nginx")
    assert _rule_of(mesh, "curl") == ""


def test_a_rule_without_a_selector_or_in_another_namespace_does_not_originate(
    mesh: LocalMesh,
) -> None:
    """Istio gives a sidecar's cluster no TLS for a credentialName in a rule without selector;
    a rule's selector never reaches across namespaces."""
    selector = "  workloadSelector:\n    matchLabels:\n      app: sleep\n"
    unselected = DESTINATION_RULE.replace(selector, "")
    _apply(mesh, unselected)
    mesh.wait_for(lambda: _refused(mesh), 40, "no TLS without a selector")
    assert _refused(mesh, "curl")
    _apply(mesh, DESTINATION_RULE)
    mesh.wait_for(lambda: not _refused(mesh), 40, "the page's rule again")
    pilotfish_ok(mesh, "create", "namespace", "other")
    assert mesh.pilotfish("delete", "destinationrule", "originate-mtls-for-nginx").returncode == 0
    _apply(mesh, DESTINATION_RULE, "-n", "other")
    mesh.wait_for(lambda: _refused(mesh), 40, "another namespace's rule not to apply")
