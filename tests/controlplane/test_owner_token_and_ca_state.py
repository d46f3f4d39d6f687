"""Who may change the mesh (the owner's token on the write API; reads stay open but never show
secret values), and the control plane's refusal to start when its CA key is lost."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from pilotfish.ca import storage
from pilotfish.controlplane.api import Api
from pilotfish.controlplane.auth import ensure_admin_token
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.main import main
from pilotfish.xds.server import XdsServer

SECRET = """apiVersion: v1
kind: Secret
metadata: {name: web-cert, namespace: istio-system}
stringData: {tls.key: TOPSECRET, tls.crt: CERT}
"""


async def _calls(state_dir: Path) -> dict[str, Any]:
    cp = ControlPlane(state_dir)
    cp.load_state()
    token = ensure_admin_token(state_dir)
    api = Api(cp, XdsServer(cp.snapshot_for_node), CollectorRegistry(), token)
    results: dict[str, Any] = {}
    async with TestClient(TestServer(api.app())) as client:
        body = {"files": [["s.yaml", SECRET]], "wait": False}
        resp = await client.post("/api/v1/apply", json=body)
        results["anonymous"] = (resp.status, await resp.json())
        resp = await client.post(
            "/api/v1/apply", json=body, headers={"authorization": "Bearer wrong"}
        )
        results["wrong"] = resp.status
        owner = {"authorization": f"Bearer {token}"}
        resp = await client.post("/api/v1/apply", json=body, headers=owner)
        results["owner"] = resp.status
        resp = await client.put("/api/v1/instances", json={"instances": []})
        results["instances"] = resp.status
        resp = await client.post("/api/v1/tokens", json={"instance": "x", "namespace": "y"})
        results["token"] = resp.status
        results["syncz"] = (await client.get("/debug/syncz")).status
        results["config"] = await (await client.get("/api/v1/config?kind=Secret")).json()
        owned = await client.get("/api/v1/config?kind=Secret", headers=owner)
        results["config_owner"] = await owned.json()
    return results


def test_writes_need_the_owners_token_and_reads_hide_secret_values(tmp_path: Path) -> None:
    results = asyncio.run(_calls(tmp_path))
    status, body = results["anonymous"]
    assert status == 401
    assert "unauthenticated write refused" in body["error"]
    assert str(tmp_path / "admin-token") in body["error"]
    assert results["wrong"] == 401
    assert results["instances"] == 401 and results["token"] == 401
    assert results["owner"] == 200
    assert results["syncz"] == 200
    shown = results["config"]["documents"][0]["stringData"]
    assert "TOPSECRET" not in str(shown) and shown["tls.key"].startswith("<redacted")
    assert results["config_owner"]["documents"][0]["stringData"]["tls.key"] == "TOPSECRET"
    assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600


def test_lost_ca_key_refuses_to_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import datetime

    storage.self_signed(tmp_path, "cluster.local", datetime.datetime.now(datetime.UTC))
    (tmp_path / "ca" / storage.CA_KEY).unlink()
    root = (tmp_path / "ca" / storage.ROOT_CERT).read_text()
    with caplog.at_level(logging.ERROR):
        code = main(["--state-dir", str(tmp_path), "--xds-port", "0", "--http-port", "0"])
    assert code == 2
    assert any("refusing to start" in r.message for r in caplog.records)
    assert "re-rooting" in caplog.text
    assert (tmp_path / "ca" / storage.ROOT_CERT).read_text() == root
    assert not (tmp_path / "ca" / storage.CA_KEY).exists()
