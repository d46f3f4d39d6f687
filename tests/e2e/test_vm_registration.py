"""WorkloadEntry auto-registration on the control plane's 15012, as istiod does it for VMs, tested
as an attacker would: a real control plane process, real TLS and gRPC sockets on a random
loopback address, ADS streams opened by hand (no Envoy: what counts here is who may register).

A WorkloadGroup `vm/vm` (service account `vm-sa`, a readiness probe) is applied; a bootstrap
token is issued for it as `pilotfish x workload entry configure` does. Then: no token, a forged
token, an expired token, a plaintext stream (15010) and a token of another service account
register nothing; the group's token registers `vm-<ip>` with Istio's annotations, health reports
flip its `Healthy` condition and its readiness in the registry, and after its stream closes it is
marked disconnected and deleted once the grace period (1 s here) has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format
from google.rpc import status_pb2
from tests.e2e.test_control_plane_certificates import ControlPlane

from pilotfish.agent.health_report import HealthReporter, health_check
from pilotfish.agent.upstream import ControlPlaneTls
from pilotfish.ca import certs
from pilotfish.ca.service import request_certificate
from pilotfish.type_urls import HEALTH_INFO

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
SERVER_NAME = "istiod.istio-system.svc"
GROUP = """apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vm, namespace: vm}
spec:
  metadata:
    labels: {app: vm}
    annotations: {team: blue}
  template: {serviceAccount: vm-sa, ports: {http: 8080}}
  probe: {httpGet: {port: 8080, path: /ready}, periodSeconds: 1}
"""


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PILOT_WORKLOAD_ENTRY_GRACE_PERIOD", "1s")
        control_plane = ControlPlane(tmp_path_factory.mktemp("cp") / "home")
    try:
        control_plane.wait_ready()
        result = control_plane.call("POST", "/api/v1/apply", {"files": [["wg.yaml", GROUP]]})
        assert result.get("ok"), result
        yield control_plane
    finally:
        control_plane.stop()


def bootstrap(cp: ControlPlane, group: str, account: str, duration: float = 600) -> dict[str, Any]:
    body = {"workload_group": group, "namespace": "vm", "service_account": account}
    return cp.call("POST", "/api/v1/tokens", body | {"duration": duration})


def entries(cp: ControlPlane) -> dict[str, dict[str, Any]]:
    docs = cp.call("GET", "/api/v1/config?kind=WorkloadEntry&namespace=vm")
    found = docs.get("documents", docs.get("items", []))
    assert isinstance(found, list), docs
    return {str(d["metadata"]["name"]): d for d in found}


def wait_for(what: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def node(ip: str, group: str = "vm", labels: dict[str, str] | None = None) -> base_pb2.Node:
    metadata = {
        "NAMESPACE": "vm",
        "AUTO_REGISTER_GROUP": group,
        "LABELS": labels or {},
        "PROXY_CONFIG": {"readinessProbe": {"httpGet": {"port": 8080}}},
    }
    result = base_pb2.Node(id=f"sidecar~{ip}~vm-host.vm~vm.svc.cluster.local")
    json_format.ParseDict(metadata, result.metadata)
    return result


def health(ip: str, healthy: bool, message: str = "") -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(type_url=HEALTH_INFO, node=node(ip))
    if not healthy:
        request.error_detail.CopyFrom(status_pb2.Status(code=500, message=message))
    return request


class Stream:
    """One ADS stream held open; `send` queues requests, `close` ends it."""

    def __init__(self, channel: grpc.aio.Channel, token: str | None) -> None:
        self.queue: asyncio.Queue[discovery_pb2.DiscoveryRequest | None] = asyncio.Queue()
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        call = channel.stream_stream(
            ADS,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )
        self.call = call(self._requests(), metadata=metadata)

    async def _requests(self) -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        while (item := await self.queue.get()) is not None:
            yield item

    def send(self, request: discovery_pb2.DiscoveryRequest) -> None:
        self.queue.put_nowait(request)

    async def refused(self) -> grpc.StatusCode:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            async for _ in self.call:
                pass
        self.details = error.value.details()
        return error.value.code()

    def close(self) -> None:
        self.queue.put_nowait(None)
        self.call.cancel()


def secure_channel(cp: ControlPlane, roots: str) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.encode())
    options = (("grpc.ssl_target_name_override", SERVER_NAME),)
    return grpc.aio.secure_channel(f"{cp.address}:{cp.tls}", credentials, options)


async def _attacks(cp: ControlPlane, roots: str, other_token: str, expired: str) -> dict[str, Any]:
    codes: dict[str, Any] = {}
    async with secure_channel(cp, roots) as channel:
        for name, token in (("none", None), ("forged", "x" * 43), ("expired", expired)):
            stream = Stream(channel, token)
            stream.send(health("10.99.0.1", True))
            codes[name] = await stream.refused()
            codes[name + "-details"] = stream.details
        with pytest.raises(grpc.aio.AioRpcError) as error:  # the CA refuses it too
            key = certs.generate_key("ECDSA")
            csr = certs.csr_for(key, "spiffe://cluster.local/ns/vm/sa/vm-sa")
            await request_certificate(channel, csr, "x" * 43, 3600)
        codes["csr-forged"] = error.value.code()
        # a valid token of another service account asks for group `vm`: accepted as a stream
        # (it is a mesh identity), but it may not register an entry of `vm-sa`
        foreign = Stream(channel, other_token)
        foreign.send(health("10.99.0.2", True))
        async with grpc.aio.insecure_channel(f"{cp.address}:{cp.xds}") as plain:
            anonymous = Stream(plain, None)  # 15010: no verified identity at all
            anonymous.send(health("10.99.0.3", True))
            await asyncio.sleep(0.5)
            codes["after"] = await asyncio.to_thread(entries, cp)
            anonymous.close()
        foreign.close()
    return codes


def test_no_token_forged_expired_plaintext_or_foreign_identity_registers_nothing(
    cp: ControlPlane,
) -> None:
    issued = bootstrap(cp, "vm", "vm-sa")
    other = bootstrap(cp, "other", "other-sa")
    expired = bootstrap(cp, "vm", "vm-sa", duration=0.2)
    time.sleep(0.3)
    codes = asyncio.run(_attacks(cp, str(issued["root_cert"]), other["token"], expired["token"]))
    assert codes["none"] == grpc.StatusCode.UNAUTHENTICATED
    assert codes["forged"] == grpc.StatusCode.UNAUTHENTICATED, codes
    assert codes["expired"] == grpc.StatusCode.UNAUTHENTICATED
    assert codes["csr-forged"] == grpc.StatusCode.UNAUTHENTICATED
    # events are handled in order: a registration that did happen would be visible by now...
    assert codes["after"] == {}
    # ...and so is one made after them (the attempts above were handled and refused)
    asyncio.run(_register_once(cp, issued, "10.99.0.9"))


async def _register_once(cp: ControlPlane, issued: dict[str, Any], ip: str) -> None:
    async with secure_channel(cp, str(issued["root_cert"])) as channel:
        stream = Stream(channel, str(issued["token"]))
        stream.send(health(ip, True))
        await asyncio.to_thread(wait_for, f"vm-{ip}", lambda: f"vm-{ip}" in entries(cp))
        stream.close()
    assert set(await asyncio.to_thread(entries, cp)) <= {f"vm-{ip}"}
    await asyncio.to_thread(wait_for, "cleanup", lambda: f"vm-{ip}" not in entries(cp))


def _instance(cp: ControlPlane, name: str) -> dict[str, Any] | None:
    registry = cp.call("GET", "/debug/registryz")
    for row in registry.get("instances", []):
        if row.get("name") == name:
            return dict(row)
    return None


async def _lifecycle(cp: ControlPlane, issued: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    name = "vm-10.99.0.5"
    async with secure_channel(cp, str(issued["root_cert"])) as channel:
        key = certs.generate_key("ECDSA")
        csr = certs.csr_for(key, "spiffe://cluster.local/ns/vm/sa/vm-sa")
        chain = await request_certificate(channel, csr, str(issued["token"]), 3600)
        seen["cert"] = certs.uri_sans(certs.load_certs(chain[0])[0])
        stream = Stream(channel, str(issued["token"]))
        stream.send(health("10.99.0.5", False, "connection refused"))
        get = asyncio.to_thread

        def condition() -> dict[str, Any] | None:
            doc = entries(cp).get(name)
            conditions = (doc or {}).get("status", {}).get("conditions", [])
            return conditions[0] if conditions else None

        seen["unhealthy"] = await get(wait_for, "a condition", condition)
        seen["entry"] = entries(cp)[name]
        seen["ready-unhealthy"] = await get(_instance, cp, name)
        stream.send(health("10.99.0.5", True))
        seen["healthy"] = await get(wait_for, "healthy", lambda: (condition() or {}).get(
            "status") == "True" and condition())  # fmt: skip
        seen["ready-healthy"] = await get(_instance, cp, name)
        stream.close()
        seen["disconnected"] = await get(
            wait_for,
            "disconnectedAt",
            lambda: (
                "istio.io/disconnectedAt" in entries(cp).get(name, {})["metadata"]["annotations"]
            ),
        )
        seen["closed-at"] = time.monotonic()
        await get(wait_for, "the entry to go", lambda: name not in entries(cp))
        seen["gone-after"] = time.monotonic() - seen["closed-at"]
    return seen


def test_a_vm_registers_reports_health_and_is_cleaned_up_after_the_grace_period(
    cp: ControlPlane,
) -> None:
    issued = bootstrap(cp, "vm", "vm-sa")
    seen = asyncio.run(_lifecycle(cp, issued))
    assert seen["cert"] == ["spiffe://cluster.local/ns/vm/sa/vm-sa"]
    entry = seen["entry"]
    meta = entry["metadata"]
    assert meta["annotations"]["istio.io/autoRegistrationGroup"] == "vm"
    assert meta["annotations"]["team"] == "blue"
    assert meta["annotations"]["proxy.istio.io/health-checks-enabled"] == "true"
    assert meta["annotations"]["istio.io/workloadController"].startswith("pilotfish-")
    assert meta["annotations"]["istio.io/connectedAt"].endswith("Z")
    assert meta["ownerReferences"][0]["kind"] == "WorkloadGroup"
    assert meta["ownerReferences"][0]["name"] == "vm"
    assert entry["spec"] == {
        "serviceAccount": "vm-sa",
        "ports": {"http": 8080},
        "address": "10.99.0.5",
        "labels": {"app": "vm"},
    }
    assert seen["unhealthy"]["type"] == "Healthy"
    assert seen["unhealthy"]["status"] == "False"
    assert seen["unhealthy"]["message"] == "connection refused"
    assert seen["ready-unhealthy"]["ready"] is False, seen["ready-unhealthy"]
    assert seen["ready-healthy"]["ready"] is True, seen["ready-healthy"]
    assert 0.5 < seen["gone-after"] < 10, seen["gone-after"]


def test_the_token_response_carries_the_mesh_root(cp: ControlPlane) -> None:
    issued = bootstrap(cp, "vm", "vm-sa")
    assert issued["root_cert"] == (cp.home / "ca" / "root-cert.pem").read_text()
    assert issued["expires"] > time.time() + 500
    with contextlib.suppress(FileNotFoundError):
        rows = json.loads((cp.home / "ca" / "tokens.json").read_text())
        assert all(issued["token"] not in json.dumps(r) for r in rows)  # only digests stored


async def _agent_reports(cp: ControlPlane, issued: dict[str, Any], folder: Path) -> list[Any]:
    """The agent's HealthReporter probing a real HTTP server whose answer the test flips."""
    answer = {"status": 503}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {answer['status']} X\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    (folder / "root-cert.pem").write_text(str(issued["root_cert"]))
    (folder / "istio-token").write_text(str(issued["token"]))
    tls = ControlPlaneTls(folder / "root-cert.pem", SERVER_NAME, folder / "istio-token")
    probe = {"httpGet": {"port": port, "path": "/ready"}, "periodSeconds": 0.2}
    check = health_check(probe | {"failureThreshold": 2})
    assert check is not None and check.failure_threshold == 2
    metadata = {"NAMESPACE": "vm", "AUTO_REGISTER_GROUP": "vm", "PROXY_CONFIG": {
        "readinessProbe": probe}}  # fmt: skip
    reporter = HealthReporter(
        check,
        "sidecar~10.99.0.7~h.vm~vm.svc.cluster.local",
        metadata,
        f"{cp.address}:{cp.tls}",
        tls,
    )
    task = asyncio.create_task(reporter.run())
    name = "vm-10.99.0.7"

    def status() -> str:
        doc = entries(cp).get(name) or {}
        conditions = doc.get("status", {}).get("conditions") or [{}]
        return str(conditions[0].get("status", ""))

    seen = [await asyncio.to_thread(wait_for, "False", lambda: status() == "False" and "False")]
    answer["status"] = 200
    seen.append(await asyncio.to_thread(wait_for, "True", lambda: status() == "True" and "True"))
    answer["status"] = 500
    seen.append(await asyncio.to_thread(wait_for, "False", lambda: status() == "False" and "False"))
    seen.append(reporter.reported)
    task.cancel()
    server.close()
    await asyncio.to_thread(wait_for, "cleanup", lambda: name not in entries(cp))
    return seen


def test_the_agents_probe_reports_flip_the_entrys_health(cp: ControlPlane, tmp_path: Path) -> None:
    issued = bootstrap(cp, "vm", "vm-sa")
    assert asyncio.run(_agent_reports(cp, issued, tmp_path)) == ["False", "True", "False", 3]
