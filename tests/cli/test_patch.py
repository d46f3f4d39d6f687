"""kubectl's patch types on stored documents (`pilotfish.cli.patch`): RFC 7386 merge patch (and
kubectl's default `strategic`, applied as it), RFC 6902 add/replace/remove."""

from __future__ import annotations

from typing import Any

import pytest

from pilotfish.cli.errors import UserError
from pilotfish.cli.patch import json_patch, merge_patch

SERVICE: dict[str, Any] = {
    "kind": "Service",
    "metadata": {"name": "istio-ingressgateway", "labels": {"app": "x", "istio": "y"}},
    "spec": {"type": "LoadBalancer", "ports": [{"name": "http2", "port": 80}]},
}


def test_merge_patch_as_istios_ingress_access_control_task_writes_it() -> None:
    patched = merge_patch(SERVICE, {"spec": {"externalTrafficPolicy": "Local"}})
    assert patched["spec"] == {**SERVICE["spec"], "externalTrafficPolicy": "Local"}
    assert SERVICE["spec"].get("externalTrafficPolicy") is None  # the original is untouched
    removed = merge_patch(SERVICE, {"metadata": {"labels": {"app": None}}})
    assert removed["metadata"]["labels"] == {"istio": "y"}
    replaced = merge_patch(SERVICE, {"spec": {"ports": [{"name": "https", "port": 443}]}})
    assert replaced["spec"]["ports"] == [{"name": "https", "port": 443}]  # lists: replaced


def test_json_patch_operations() -> None:
    ops = [
        {"op": "add", "path": "/spec/ports/-", "value": {"name": "https", "port": 443}},
        {"op": "replace", "path": "/spec/type", "value": "NodePort"},
        {"op": "remove", "path": "/metadata/labels/app"},
    ]
    patched = json_patch(SERVICE, ops)
    assert [p["port"] for p in patched["spec"]["ports"]] == [80, 443]
    assert patched["spec"]["type"] == "NodePort" and patched["metadata"]["labels"] == {"istio": "y"}
    with pytest.raises(UserError, match="not found"):
        json_patch(SERVICE, [{"op": "remove", "path": "/spec/nothing"}])
    with pytest.raises(UserError, match="add, replace or remove"):
        json_patch(SERVICE, [{"op": "move", "path": "/spec", "from": "/x"}])
