"""The control plane's document store: keys across API versions, round trips, atomic writes."""

from __future__ import annotations

from pathlib import Path

from pilotfish.controlplane.store import DocumentStore, doc_key

VS = {
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
    merged, changes = store.preview_apply([VS])
    assert changes == ["virtualservice/reviews created"]
    store.commit(merged)
    again = DocumentStore(tmp_path / "config.yaml")
    assert "reviews" in again.read_text()
    _, changes = store.preview_apply([VS])
    assert changes == ["virtualservice/reviews unchanged"]
    merged, deleted, missing = store.preview_delete([doc_key(VS), ("", "Service", "default", "x")])
    assert deleted == ["virtualservice/reviews deleted"]
    assert missing == ['services "x" not found in namespace default']
