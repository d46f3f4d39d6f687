"""The control plane's document store: keys across API versions, round trips, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from pilotfish.config.yaml_text import dump_yaml
from pilotfish.controlplane.store import DocumentStore, StaleWrite, doc_key

VS: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "reviews"},
    "spec": {"hosts": ["reviews"]},
}


def test_versions_of_a_kind_share_one_key() -> None:
    beta = dict(VS, apiVersion="networking.istio.io/v1beta1")
    assert (
        doc_key(VS)
        == doc_key(beta)
        == ("networking.istio.io", "VirtualService", "default", "reviews")
    )


def test_apply_then_delete_round_trips_through_disk(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "config.yaml")
    merged, changes = store.preview_apply(
        [dict(VS, metadata=dict(VS["metadata"]))], 1_700_000_000.0
    )
    assert changes == ["virtualservice.networking.istio.io/reviews created"]
    store.commit(merged)
    again = DocumentStore(tmp_path / "config.yaml")
    assert "reviews" in again.read_text()
    _, changes = store.preview_apply([dict(VS, metadata=dict(VS["metadata"]))], 1_700_000_060.0)
    assert changes == ["virtualservice.networking.istio.io/reviews unchanged"]
    merged, deleted, missing = store.preview_delete([doc_key(VS), ("", "Service", "default", "x")])
    assert deleted == ['virtualservice.networking.istio.io "reviews" deleted']
    assert missing == ['services "x" not found in namespace default']


def test_the_store_writes_creation_times_as_the_api_server_does(tmp_path: Path) -> None:
    """Created: now; replaced: the first creation time kept; a given one is not taken."""
    store = DocumentStore(tmp_path / "config.yaml")
    given = {**VS, "metadata": {"name": "reviews", "creationTimestamp": "2001-01-01T00:00:00Z"}}
    merged, _ = store.preview_apply([given], 1_700_000_000.0)
    assert merged[0]["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert given["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"  # what objects read
    store.commit(merged)
    changed = {**VS, "metadata": {"name": "reviews"}, "spec": {"hosts": ["reviews", "ratings"]}}
    merged, changes = store.preview_apply([changed], 1_700_003_600.0)
    assert changes == ["virtualservice.networking.istio.io/reviews configured"]
    assert merged[0]["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    store.commit(merged)
    reread = DocumentStore(tmp_path / "config.yaml")
    assert "creationTimestamp: '2023-11-14T22:13:20Z'" in reread.read_text()


def _vs(name: str, hosts: list[str]) -> dict[str, Any]:
    return {**VS, "metadata": {"name": name}, "spec": {"hosts": hosts}}


def test_a_commit_writes_every_document_in_order_rendering_only_what_changed(
    tmp_path: Path,
) -> None:
    """A commit of a preview renders only the documents the preview touched; the file is what
    rendering every stored document, in order, gives (replaced ones keep their place)."""
    store = DocumentStore(tmp_path / "config.yaml")

    def whole() -> str:
        return "---\n".join(dump_yaml([d]) for d in store.documents())

    merged, _ = store.preview_apply([_vs(n, [n]) for n in ("a", "b", "c")], 1_700_000_000.0)
    store.commit(merged)
    assert store.read_text() == whole()
    merged, changes = store.preview_apply([_vs("b", ["b", "x"]), _vs("d", ["d"])], 1_700_000_001.0)
    assert changes == [
        "virtualservice.networking.istio.io/b configured",
        "virtualservice.networking.istio.io/d created",
    ]
    store.commit(merged)
    assert [d["metadata"]["name"] for d in store.documents()] == ["a", "b", "c", "d"]
    assert store.read_text() == whole() and "- x" in store.read_text()
    merged, deleted, _ = store.preview_delete([doc_key(_vs("a", []))])
    assert deleted == ['virtualservice.networking.istio.io "a" deleted']
    store.commit(merged)
    assert store.read_text() == whole() and "name: a\n" not in store.read_text()
    store.commit([*store.documents(), _vs("e", ["e"])])  # not a preview: every one looked at
    assert store.read_text() == whole() and store.key(store.documents()[-1])[3] == "e"
    assert DocumentStore(tmp_path / "config.yaml").read_text() == whole()


def test_change_lines_name_kinds_as_kubectl_prints_them(tmp_path: Path) -> None:
    """kubectl's lines: the kind then its API group unless core (`service/details created`,
    `deployment.apps/details-v1 created`), `KIND.GROUP "NAME" deleted` when deleted."""
    store = DocumentStore(tmp_path / "config.yaml")
    docs = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "details"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "details-v1"}},
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istio-system"},
        },
    ]
    merged, changes = store.preview_apply(docs, 1_700_000_000.0)
    assert changes == [
        "service/details created",
        "deployment.apps/details-v1 created",
        "peerauthentication.security.istio.io/default created",
    ]
    store.commit(merged)
    _, deleted, missing = store.preview_delete(
        [("apps", "Deployment", "default", "details-v1"), ("apps", "Deployment", "default", "x")]
    )
    assert deleted == ['deployment.apps "details-v1" deleted']
    assert missing == ['deployments.apps "x" not found in namespace default']


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["metadata"])


def test_the_store_writes_uid_resource_version_and_generation_as_the_api_server_does(
    tmp_path: Path,
) -> None:
    """uid for the object's life; resourceVersion on every write that changes it; generation
    on spec changes only (custom resources, Deployments), none for a Service; an unchanged
    apply changes none of them; the counter goes on after a reload from disk."""
    store = DocumentStore(tmp_path / "config.yaml")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews"},
           "spec": {"ports": [{"port": 9080}]}}  # fmt: skip
    given = {**VS, "metadata": {"name": "reviews", "uid": "x", "generation": 9}}
    merged, _ = store.preview_apply([given, svc], 1_700_000_000.0)
    store.commit(merged)
    first, service = _meta(merged[0]), _meta(merged[1])
    assert first["generation"] == 1 and first["uid"] != "x" and len(first["uid"]) == 36
    assert (first["resourceVersion"], service["resourceVersion"]) == ("1", "2")
    assert "generation" not in service and service["uid"] != first["uid"]

    merged, changes = store.preview_apply([_vs("reviews", ["reviews"])], 1_700_000_001.0)
    assert changes == ["virtualservice.networking.istio.io/reviews unchanged"]
    assert _meta(merged[0]) == first
    store.commit(merged)

    labelled = {**VS, "metadata": {"name": "reviews", "labels": {"a": "b"}}}
    merged, _ = store.preview_apply([labelled], 1_700_000_002.0)
    store.commit(merged)
    assert _meta(merged[0])["resourceVersion"] == "3" and _meta(merged[0])["generation"] == 1

    reloaded = DocumentStore(tmp_path / "config.yaml")  # a restart: the file is the record
    reloaded.replace_all(list(YAML(typ="safe").load_all(reloaded.read_text())))
    changed = {**labelled, "spec": {"hosts": ["reviews", "ratings"]}}
    merged, _ = reloaded.preview_apply([changed], 1_700_000_003.0)
    after = _meta(merged[0])
    assert (after["resourceVersion"], after["generation"]) == ("4", 2)
    assert (after["uid"], after["creationTimestamp"]) == (first["uid"], first["creationTimestamp"])


def test_a_stale_resource_version_is_refused_as_the_api_servers_conflict(tmp_path: Path) -> None:
    """`get -o yaml | apply -f -` passes (the same version), the same file after another write
    is refused and nothing is previewed; a create ignores a given version."""
    store = DocumentStore(tmp_path / "config.yaml")
    given = {**VS, "metadata": {"name": "reviews", "resourceVersion": "77"}}
    merged, _ = store.preview_apply([given], 1.0)
    store.commit(merged)
    shown = {**VS, "metadata": _meta(merged[0])}
    assert shown["metadata"]["resourceVersion"] == "1"
    merged, changes = store.preview_apply([{**shown, "metadata": dict(shown["metadata"])}], 2.0)
    assert changes == ["virtualservice.networking.istio.io/reviews unchanged"]
    store.commit(merged)
    merged, _ = store.preview_apply([_vs("reviews", ["x"])], 3.0)
    store.commit(merged)
    with pytest.raises(StaleWrite) as stale:
        store.preview_apply([{**shown, "metadata": dict(shown["metadata"])}], 4.0)
    assert stale.value.stale == [
        (
            doc_key(VS),
            'Operation cannot be fulfilled on virtualservices.networking.istio.io "reviews": '
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
        )
    ]
    assert store.documents()[0]["spec"] == {"hosts": ["x"]}
