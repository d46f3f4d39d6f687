"""What the API server keeps of objects, on a running mesh, as kubectl shows it.

The fields it writes into every object it stores, as `kubectl get -o yaml` shows them: `uid`
for the object's life, `resourceVersion` changed by each write that changes the object,
`generation` by spec changes only (custom resources, Deployments; a Service has none),
`creationTimestamp` in RFC 3339; an unchanged apply changes none of them. `get -o yaml | apply
-f -` round-trips, and the same file after another write is refused with the API server's
Conflict, as kubectl's apply sends its stale `resourceVersion`. A restart of the mesh keeps
them (the store's file is their record).

kubectl's imperative RBAC objects (`create serviceaccount|role|clusterrole|rolebinding|
clusterrolebinding`): kubectl's lines and refusals, stored and listed by `get` with kubectl's
columns (stored only: nothing enforces them).

`replace -f`: the object must exist and the file's resourceVersion be current.

`delete namespace istio-system`: istiod and its gateway go with it, the sidecars keep their
last config; Istio's install brings them back."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.e2e.meshctl import LocalMesh, running_mesh

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: roundtrip}
spec: {host: httpbin}
"""
SLEEP = "tests/data/istio-samples/sleep.yaml"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# what pilotfish shows without storing it has a name-based (version 5) uid, stable across gets
SHOWN_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: Any) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as m:
        yield m


def ok(mesh: LocalMesh, *args: str, stdin: str | None = None) -> str:
    done = mesh.pilotfish(*args, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def shown(mesh: LocalMesh, *args: str) -> tuple[str, dict[str, Any]]:
    text = ok(mesh, "get", *args, "-o", "yaml")
    return text, YAML(typ="safe").load(text)


def meta(mesh: LocalMesh, *args: str) -> dict[str, Any]:
    return dict(shown(mesh, *args)[1]["metadata"])


def test_get_apply_round_trip_and_a_stale_resource_version_conflicts(mesh: LocalMesh) -> None:
    assert "created" in ok(mesh, "apply", "-f", "-", stdin=RULE)
    live, doc = shown(mesh, "dr", "roundtrip")
    first = doc["metadata"]
    assert UUID.match(first["uid"]) and RFC3339.match(first["creationTimestamp"]), live
    assert str(first["resourceVersion"]).isdigit() and first["generation"] == 1, live
    managed = ok(mesh, "get", "dr", "roundtrip", "-o", "yaml", "--show-managed-fields")
    assert managed == live  # kubectl's flag, accepted: nothing is hidden without it

    again = ok(mesh, "apply", "-f", "-", stdin=live)  # get -o yaml | kubectl apply -f -
    assert "destinationrule.networking.istio.io/roundtrip unchanged" in again, again
    assert meta(mesh, "dr", "roundtrip") == first

    ok(mesh, "annotate", "dr", "roundtrip", "owner=me")  # metadata only: no new generation
    annotated = meta(mesh, "dr", "roundtrip")
    assert int(annotated["resourceVersion"]) > int(first["resourceVersion"]), annotated
    assert (annotated["generation"], annotated["uid"]) == (1, first["uid"])

    stale = mesh.pilotfish("apply", "-f", "-", stdin=live)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert (
        'Operation cannot be fulfilled on destinationrules.networking.istio.io "roundtrip": '
        "the object has been modified; please apply your changes to the latest version and "
        "try again"
    ) in stale.stderr, stale.stderr
    assert meta(mesh, "dr", "roundtrip") == annotated  # nothing was applied

    changed = RULE.replace(
        "{host: httpbin}", "{host: httpbin, trafficPolicy: {tls: {mode: DISABLE}}}"
    )
    ok(mesh, "apply", "-f", "-", stdin=changed)
    spec_changed = meta(mesh, "dr", "roundtrip")
    assert spec_changed["generation"] == 2 and spec_changed["uid"] == first["uid"]
    assert spec_changed["creationTimestamp"] == first["creationTimestamp"]

    ok(mesh, "delete", "dr", "roundtrip")
    ok(mesh, "apply", "-f", "-", stdin=live)  # a create: the file's version is dropped
    recreated = meta(mesh, "dr", "roundtrip")
    assert recreated["uid"] != first["uid"] and recreated["generation"] == 1, recreated
    assert int(recreated["resourceVersion"]) > int(spec_changed["resourceVersion"])


def test_services_have_no_generation_deployments_do(mesh: LocalMesh) -> None:
    service = meta(mesh, "svc", "httpbin")
    assert UUID.match(service["uid"]) and str(service["resourceVersion"]).isdigit(), service
    assert "generation" not in service
    _, deployment = shown(mesh, "deploy", "httpbin-v1")
    assert UUID.match(deployment["metadata"]["uid"]) and deployment["metadata"]["generation"] == 1
    assert deployment["status"]["observedGeneration"] == 1, deployment


def test_yaml_as_kubectl_prints_it_and_objects_no_one_applied_carry_the_fields(
    mesh: LocalMesh,
) -> None:
    """kubectl writes YAML with go-yaml (sigs.k8s.io/yaml): the timestamp and the version,
    strings another reader would take for a time or a number, in double quotes; a List's empty
    resourceVersion as "". What pilotfish shows without storing it (the pod, istiod's Service
    and Deployment, the Endpoints, the namespace) carries uid and resourceVersion as a stored
    object does, stable from one get to the next; Endpoints are an object of their own."""
    ok(mesh, "apply", "-f", "-", stdin=RULE.replace("roundtrip", "quoted"))
    text, doc = shown(mesh, "dr", "quoted")
    stamp, version = doc["metadata"]["creationTimestamp"], doc["metadata"]["resourceVersion"]
    assert (
        f'  creationTimestamp: "{stamp}"\n' in text and f'  resourceVersion: "{version}"\n' in text
    )
    listed = ok(mesh, "get", "dr", "-o", "yaml")
    assert '  resourceVersion: ""\n' in listed, listed
    for args in (("pod", "httpbin-v1-0"), ("svc", "istiod", "-n", "istio-system"),
                 ("deploy", "istiod", "-n", "istio-system"), ("ep", "httpbin"),
                 ("ns", "default")):  # fmt: skip
        first = meta(mesh, *args)
        assert SHOWN_UUID.match(first["uid"]), (args, first)
        assert str(first["resourceVersion"]).isdigit(), (args, first)
        assert meta(mesh, *args) == first
    assert meta(mesh, "ep", "httpbin")["uid"] != meta(mesh, "svc", "httpbin")["uid"]
    assert meta(mesh, "deploy", "istiod", "-n", "istio-system")["generation"] == 1
    ok(mesh, "delete", "dr", "quoted")


def test_a_restart_keeps_uid_and_resource_version(mesh: LocalMesh) -> None:
    ok(mesh, "apply", "-f", "-", stdin=RULE.replace("roundtrip", "kept"))
    before = meta(mesh, "dr", "kept"), meta(mesh, "svc", "httpbin")
    mesh.down()
    assert mesh.up().returncode == 0
    assert (meta(mesh, "dr", "kept"), meta(mesh, "svc", "httpbin")) == before
    ok(mesh, "annotate", "dr", "kept", "after=restart")
    assert int(meta(mesh, "dr", "kept")["resourceVersion"]) > max(
        int(m["resourceVersion"]) for m in before
    )


def test_rbac_objects_are_created_and_listed_as_kubectl_does(mesh: LocalMesh) -> None:
    created = [
        ok(mesh, "create", "serviceaccount", "reader"),
        ok(mesh, "create", "role", "pod-reader", "--verb=get,list",
           "--resource=pods,deployments.apps"),
        ok(mesh, "create", "rolebinding", "read-pods", "--role=pod-reader",
           "--serviceaccount=default:reader", "--user=alice"),
        ok(mesh, "create", "clusterrole", "vs-reader", "--verb=get", "--resource=vs"),
        ok(mesh, "create", "clusterrolebinding", "read-vs", "--clusterrole=vs-reader",
           "--group=ops"),
    ]  # fmt: skip
    assert [c.splitlines()[0] for c in created] == [
        "serviceaccount/reader created",
        "role.rbac.authorization.k8s.io/pod-reader created",
        "rolebinding.rbac.authorization.k8s.io/read-pods created",
        "clusterrole.rbac.authorization.k8s.io/vs-reader created",
        "clusterrolebinding.rbac.authorization.k8s.io/read-vs created",
    ]
    again = mesh.pilotfish("create", "role", "pod-reader", "--verb=get", "--resource=pods")
    assert again.returncode == 1 and again.stderr == (
        'Error from server (AlreadyExists): roles.rbac.authorization.k8s.io "pod-reader" '
        "already exists\n"
    ), again.stderr
    bad = mesh.pilotfish("create", "rolebinding", "x", "--user=bob")
    assert bad.returncode == 1, bad.stdout
    assert bad.stderr == "error: exactly one of clusterrole or role must be specified\n"

    _, role = shown(mesh, "role", "pod-reader")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
    ]
    _, binding = shown(mesh, "rolebinding", "read-pods")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "pod-reader"}  # fmt: skip
    assert [s["kind"] for s in binding["subjects"]] == ["User", "ServiceAccount"]
    _, cluster_role = shown(mesh, "clusterrole", "vs-reader")
    assert "namespace" not in cluster_role["metadata"], cluster_role
    assert cluster_role["rules"][0]["resources"] == ["virtualservices"]

    table = ok(mesh, "get", "rolebinding").splitlines()
    assert table[0].split() == ["NAME", "ROLE", "AGE"] and table[1].split()[:2] == [
        "read-pods",
        "Role/pod-reader",
    ]
    roles = ok(mesh, "get", "clusterrole", "vs-reader").splitlines()
    assert roles[0].split() == ["NAME", "CREATED", "AT"], roles
    assert RFC3339.match(roles[1].split()[1]), roles
    assert "reader" in ok(mesh, "get", "sa").split()
    assert 'clusterrolebinding.rbac.authorization.k8s.io "read-vs" deleted' in ok(
        mesh, "delete", "clusterrolebinding", "read-vs"
    )


def test_replace_needs_the_object_and_its_current_version(mesh: LocalMesh) -> None:
    """kubectl replace: every object must exist, a stale resourceVersion is the Conflict; the
    mesh ConfigMap is there from the install (Istio's Egress Control task replaces it)."""
    ok(mesh, "apply", "-f", "-", stdin=RULE.replace("roundtrip", "replaced"))
    live, _ = shown(mesh, "dr", "replaced")
    changed = live.replace("host: httpbin", "host: httpbin.default.svc.cluster.local")
    out = ok(mesh, "replace", "-f", "-", stdin=changed)
    assert out.splitlines()[0] == "destinationrule.networking.istio.io/replaced replaced", out
    stale = mesh.pilotfish("replace", "-f", "-", stdin=live)
    assert stale.returncode == 1, stale.stdout
    assert 'Operation cannot be fulfilled on destinationrules.networking.istio.io "replaced"' in (
        stale.stderr
    )
    missing = mesh.pilotfish("replace", "-f", "-", stdin=RULE.replace("roundtrip", "nothere"))
    assert (
        missing.returncode == 1
        and (
            'Error from server (NotFound): error when replacing "STDIN": '
            'destinationrules.networking.istio.io "nothere" not found'
        )
        in missing.stderr
    ), missing.stderr
    mesh_config = ok(mesh, "get", "configmap", "istio", "-n", "istio-system", "-o", "yaml")
    replaced = ok(mesh, "replace", "-n", "istio-system", "-f", "-", stdin=mesh_config)
    assert replaced.splitlines()[0] == "configmap/istio replaced", replaced


IMPLICIT = [("ns", "implicit"), ("sa", "default"), ("cm", "istio-ca-root-cert")]


@pytest.mark.parametrize(("kind", "name"), IMPLICIT, ids=[k for k, _ in IMPLICIT])
def test_applying_an_object_no_one_applied_is_configured_then_unchanged(
    mesh: LocalMesh, kind: str, name: str
) -> None:
    """`kubectl get ns default -o yaml | kubectl apply -f -`: the namespace exists (the API
    server made it, without the last-applied annotation), so kubectl warns and says
    `configured`, never `created`; the same again is `unchanged`. Likewise a namespace's
    `default` ServiceAccount and root-cert ConfigMap; `create` refuses each (AlreadyExists).
    In a namespace that exists because it holds config, deleted afterwards (an explicit
    `default` namespace would turn local mode's injection there off for later tests)."""
    ok(mesh, "apply", "-n", "implicit", "-f", "-", stdin=RULE)
    where = [] if kind == "ns" else ["-n", "implicit"]
    live, _ = shown(mesh, kind, name, *where)
    resource = {"ns": "namespace", "sa": "serviceaccount", "cm": "configmap"}[kind]
    first = mesh.pilotfish("apply", "-f", "-", stdin=live)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[0] == f"{resource}/{name} configured", first.stdout
    assert first.stderr.startswith(
        f"Warning: resource {resource}s/{name} is missing the "
        "kubectl.kubernetes.io/last-applied-configuration annotation which is required by "
        "kubectl apply."
    ), first.stderr
    live, _ = shown(mesh, kind, name, *where)
    again = ok(mesh, "apply", "-f", "-", stdin=live)
    assert again.splitlines()[0] == f"{resource}/{name} unchanged", again
    refused = mesh.pilotfish("create", "-f", "-", stdin=live)
    assert refused.returncode == 1 and f'{resource}s "{name}" already exists' in refused.stderr
    ok(mesh, "delete", "namespace", "implicit")


def test_a_namespace_round_trip_keeps_local_modes_injection(mesh: LocalMesh) -> None:
    """A namespace never created explicitly has local mode's `istio-injection=enabled`, and
    shows it (`kubectl get ns -L istio-injection`); `kubectl get ns NS -o yaml | kubectl apply
    -f -` keeps it, and so does an applied `Namespace` that leaves the label out (kubectl's
    apply keeps the live labels it never set): pods applied there afterwards get sidecars."""
    rows = [line.split() for line in ok(mesh, "get", "ns", "-L", "istio-injection").splitlines()]
    assert rows[0][3] == "ISTIO-INJECTION" and {r[0]: r[3:] for r in rows}["default"] == [
        "enabled"
    ], rows
    written = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: written\n  labels: {team: a}\n"
    try:
        for ns in ("kept", "written"):
            ok(mesh, "apply", "-n", ns, "-f", "-", stdin=RULE)  # the namespace holds config
        live, doc = shown(mesh, "ns", "kept")
        assert doc["metadata"]["labels"]["istio-injection"] == "enabled", live
        assert ok(mesh, "apply", "-f", "-", stdin=live).startswith("namespace/kept configured")
        assert ok(mesh, "apply", "-f", "-", stdin=written).startswith("namespace/written config")
        assert meta(mesh, "ns", "written")["labels"] == {
            "istio-injection": "enabled",
            "kubernetes.io/metadata.name": "written",
            "team": "a",
        }
        for ns in ("kept", "written"):
            ok(mesh, "apply", "-f", SLEEP, "-n", ns)
            assert mesh.info["proxies"][f"sleep-0.{ns}"].get("sidecar", True) is True, ns
    finally:
        for ns in ("kept", "written"):
            mesh.pilotfish("delete", "namespace", ns)


def _xds_open(mesh: LocalMesh) -> bool:
    host, _, port = str(mesh.info["xds"]).rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return False
    return True


def _sleep_to_httpbin(mesh: LocalMesh) -> str:
    url = "http://httpbin:8000/get"
    return ok(
        mesh, "exec", "sleep-0", "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url
    )


def test_deleting_istio_system_takes_istiod_and_its_gateway_sidecars_keep_their_config(
    mesh: LocalMesh,
) -> None:
    """As on Kubernetes: the gateway stops, istiod stops serving xDS and the CA, the sidecars
    keep their last config; Istio's install brings istiod and the gateway back. (Last in the
    module: it changes the mesh.)"""
    ok(mesh, "apply", "-f", SLEEP)
    assert _sleep_to_httpbin(mesh) == "200" and _xds_open(mesh)
    deleted = mesh.pilotfish("delete", "namespace", "istio-system")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert deleted.stdout.endswith('namespace "istio-system" deleted\n'), deleted.stdout
    assert deleted.stdout.count("deleted") == 1, deleted.stdout  # once, last, as kubectl
    system = mesh.pilotfish("get", "pods", "-n", "istio-system")
    assert system.stdout == "" and "No resources found in istio-system namespace." in system.stderr
    assert "istio-system" not in ok(mesh, "get", "ns")
    assert "istiod" not in ok(mesh, "get", "svc", "-A")
    assert not _xds_open(mesh)
    assert not any(p.get("namespace") == "istio-system" for p in mesh.info["proxies"].values())
    assert _sleep_to_httpbin(mesh) == "200"  # the sidecars' last config
    again = mesh.pilotfish("delete", "namespace", "istio-system")
    assert again.returncode == 1 and 'namespaces "istio-system" not found' in again.stderr

    installed = mesh.pilotfish("install", "-y", "--ingress-address", mesh.ingress, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pods = ok(mesh, "get", "pods", "-n", "istio-system")
    assert "istiod-0" in pods and "istio-ingressgateway-0" in pods, pods
    assert _xds_open(mesh)
    mesh.wait_for(
        lambda: "sleep-0.default" in ok(mesh, "proxy-status"), 30, "the sidecars to reconnect"
    )
