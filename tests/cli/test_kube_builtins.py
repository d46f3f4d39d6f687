"""The objects every namespace holds without anyone applying them (`cli.kube_builtins`): the
`default` ServiceAccount and Istio's `istio-ca-root-cert` ConfigMap, unless applied."""

from __future__ import annotations

from typing import Any

from pilotfish.cli.kube_builtins import builtin_objects


def namespace(name: str) -> dict[str, Any]:
    meta = {"name": name, "creationTimestamp": "2026-12-02T12:00:00Z"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def test_each_namespace_gets_a_default_service_account() -> None:
    applied = [{"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "b"}}]
    found = builtin_objects("ServiceAccount", [namespace("a"), namespace("b")], applied, "PEM")
    assert found == [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "default",
                "namespace": "a",
                "creationTimestamp": "2026-12-02T12:00:00Z",
            },
        }
    ]  # b's was applied: it is the one shown


def test_each_namespace_gets_the_root_cert_configmap() -> None:
    found = builtin_objects("ConfigMap", [namespace("a"), namespace("b")], [], "PEM\n")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in found] == [
        ("a", "istio-ca-root-cert"),
        ("b", "istio-ca-root-cert"),
    ]
    assert found[0]["data"] == {"root-cert.pem": "PEM\n"}
    assert found[0]["metadata"]["labels"] == {"istio.io/config": "true"}
    assert builtin_objects("ConfigMap", [namespace("a")], [], "") == []  # no CA answer: none
    assert builtin_objects("Secret", [namespace("a")], [], "PEM") == []
