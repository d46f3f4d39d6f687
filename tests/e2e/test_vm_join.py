"""A host outside the mesh joins it the way an Istio VM does (root: network namespaces).

One isolated mesh (`up --isolated`: sleep and httpbin in their pods) and a WorkloadGroup `vm/vm`
(service account `vm-sa`, port 8080, an HTTP readiness probe) with a Service `vmapp.vm` selecting
its label. `pilotfish x workload entry configure --autoregister` writes the VM's files; a network
namespace on the mesh's bridge stands for the VM (no route off the machine), with Istio's capture
rules and, as Istio's VM guide says, the `hosts` file in its /etc/hosts. Its files are laid out at
Istio's VM paths in a folder of its own (the VM never sees the control plane's state directory)
and `pilotfish agent` runs there, next to httpbin's app on 8080.

Checked, as an attacker would first: streams on 15012 with no token, a forged or an expired one
are refused (the CA too); a plaintext stream (15010) or a token of another service account naming
the group registers nothing. Then: the agent gets its certificate and connects over 15012 with
the bootstrap token; its WorkloadEntry `vm-<ip>` appears with Istio's name, annotations and owner
and turns healthy; sleep calls the VM's service over mTLS (the VM's app sees sleep's identity)
and the VM calls httpbin in the mesh (httpbin sees the VM's identity); the group's probe marks it
unhealthy when its app stops (no traffic to it) and healthy again; when the agent stops, the
entry is removed after the grace period (1 s here)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
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
from tests.e2e.meshctl import ROOT, LocalMesh, http

from pilotfish.agent.vm_files import parse_env
from pilotfish.ca import certs
from pilotfish.ca.service import request_certificate
from pilotfish.capture import netns
from pilotfish.capture.rules import nat_rules, settings_for
from pilotfish.state_files import read_admin_token
from pilotfish.type_urls import HEALTH_INFO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("iptables-restore") is None,
    reason="a VM stands as a network namespace: needs root and iptables; CI runs as root",
)

VM_CONFIG = """apiVersion: v1
kind: Namespace
metadata: {name: vm, labels: {istio-injection: enabled}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vm, namespace: vm}
spec:
  metadata:
    labels: {app: vmapp}
  template:
    serviceAccount: vm-sa
    ports: {http: 8080}
  probe:
    periodSeconds: 1
    httpGet: {port: 8080, path: /status/200}
---
apiVersion: v1
kind: Service
metadata: {name: vmapp, namespace: vm}
spec:
  selector: {app: vmapp}
  ports: [{name: http, port: 8080, targetPort: 8080}]
"""
ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
VM_PATHS = {  # file from `configure` -> where Istio's VM guide puts it
    "cluster.env": "var/lib/istio/envoy/cluster.env",
    "mesh.yaml": "etc/istio/config/mesh",
    "root-cert.pem": "etc/certs/root-cert.pem",
    "istio-token": "var/run/secrets/tokens/istio-token",
}


def until(check: Any, timeout: float, what: str) -> Any:
    """The first truthy value of `check()` (errors count as not yet), within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, AssertionError, KeyError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


ATTACKERS = ("192.0.2.1", "192.0.2.2", "192.0.2.3")  # RFC 5737: never the VM's 10.<block>.250.1


def refused_registered(mesh: LocalMesh) -> list[str]:
    return sorted(set(entries(mesh)) & {f"vm-{ip}" for ip in ATTACKERS})  # none, if secure


def entries(mesh: LocalMesh) -> dict[str, dict[str, Any]]:
    out = mesh.pilotfish("get", "workloadentries", "-n", "vm", "-o", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout or "{}")
    items = data.get("items", []) if isinstance(data, dict) else data
    return {str(d["metadata"]["name"]): d for d in items}


class Vm:
    """The VM: a namespace on the bridge, its folder, its agent and app."""

    def __init__(self, mesh: LocalMesh, folder: Path, files: Path) -> None:
        block = int(mesh.info["block"])
        self.bridge = netns.MeshBridge(block, str(mesh.home.resolve()))
        self.netns = self.bridge.netns_name("vm-host")
        self.ip = f"10.{block}.250.1"
        self.folder = folder
        for name, path in VM_PATHS.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(files / name, folder / path)
        hosts = "127.0.0.1\tlocalhost\n" + (files / "hosts").read_text()  # the guide's step
        netns.add_pod(self.bridge, self.netns, self.ip, hosts, nat_rules(settings_for({})))
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.env = env | {"TERMINATION_DRAIN_DURATION_SECONDS": "0"}
        self.app = self.start_app()
        self.agent = self._start("agent", [sys.executable, "-m", "pilotfish", "agent"])

    def start_app(self) -> subprocess.Popen[bytes]:
        app = [sys.executable, str(ROOT / "samples/httpbin/httpbin.py")]
        return self._start("app", app, HOST="0.0.0.0", PORT="8080", POD_NAME="vm-host")

    def _start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        return subprocess.Popen(
            netns.in_netns(self.netns, argv),
            cwd=self.folder,
            env=self.env | env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            netns.in_netns(self.netns, list(argv)), capture_output=True, text=True, timeout=30
        )

    def logs(self) -> str:
        return "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.folder.glob("*.log"))
        )

    def stop_agent(self) -> None:
        self.agent.send_signal(signal.SIGTERM)
        self.agent.wait(30)

    def stop(self) -> None:
        for process in (self.agent, self.app):
            if process.poll() is None:
                process.kill()
                process.wait()
        netns.remove_pod(self.netns)


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalMesh, Vm]]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), "samples/httpbin", isolated=True)
    mesh.env["PILOT_WORKLOAD_ENTRY_GRACE_PERIOD"] = "1s"
    started = mesh.up()
    vm: Vm | None = None
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        mesh.apply("samples/sleep/sleep.yaml")
        applied = mesh.pilotfish("apply", "-f", "-", stdin=VM_CONFIG)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        group = tmp_path_factory.mktemp("wg") / "workloadgroup.yaml"
        group.write_text(VM_CONFIG.split("---\n")[1])
        files = tmp_path_factory.mktemp("vm-files")
        made = mesh.pilotfish(
            "x", "workload", "entry", "configure", "-f", str(group), "-o", str(files),
            "--autoregister", "--clusterID", "Kubernetes",
        )  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        assert sorted(p.name for p in files.iterdir()) == sorted([*VM_PATHS, "hosts"])
        vm = Vm(mesh, tmp_path_factory.mktemp("vm-root"), files)
        yield mesh, vm
    finally:
        if vm is not None:
            print(vm.logs())
            vm.stop()
        mesh.down()


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


def secure_channel(address: str, roots: str) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.encode())
    options = (("grpc.ssl_target_name_override", "istiod.istio-system.svc"),)
    return grpc.aio.secure_channel(address, credentials, options)


def bootstrap(mesh: LocalMesh, group: str, account: str, duration: float = 600) -> Any:
    body = {"workload_group": group, "namespace": "vm", "service_account": account}
    answer = http(
        f"{mesh.info['api']}/api/v1/tokens",
        json.dumps(body | {"duration": duration}).encode(),
        {"authorization": f"Bearer {read_admin_token(mesh.home)}"},
    )
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


async def _attacks(mesh: LocalMesh, roots: str, other: str, expired: str) -> dict[str, Any]:
    address = str(mesh.info["xds"]).rsplit(":", 1)[0]
    codes: dict[str, Any] = {}
    async with secure_channel(f"{address}:15012", roots) as channel:
        for name, token in (("none", None), ("forged", "x" * 43), ("expired", expired)):
            stream = Stream(channel, token)
            stream.send(health(ATTACKERS[0], True))
            codes[name] = (await stream.refused(), stream.details)
        try:
            key = certs.generate_key("EC")
            csr = certs.csr_for(key, "spiffe://cluster.local/ns/vm/sa/vm-sa")
            await request_certificate(channel, csr, "x" * 43, 3600)
        except grpc.aio.AioRpcError as error:
            codes["csr-forged"] = (error.code(), error.details())
        # a valid token of another service account names group `vm`: a mesh identity, but
        # not the one the group's entries belong to
        foreign = Stream(channel, other)
        foreign.send(health(ATTACKERS[1], True))
        async with grpc.aio.insecure_channel(f"{address}:15010") as plain:
            anonymous = Stream(plain, None)  # no verified identity at all
            anonymous.send(health(ATTACKERS[2], True))
            await asyncio.sleep(1)
            anonymous.close()
        foreign.close()
    return codes


def test_no_token_forged_expired_plaintext_or_foreign_identity_registers_nothing(
    vm: tuple[LocalMesh, Vm],
) -> None:
    mesh, _ = vm
    issued = bootstrap(mesh, "vm", "vm-sa")
    other = bootstrap(mesh, "other", "other-sa")
    expired = bootstrap(mesh, "vm", "vm-sa", duration=0.2)
    time.sleep(0.3)
    codes = asyncio.run(_attacks(mesh, issued["root_cert"], other["token"], expired["token"]))
    for attempt in ("none", "forged", "expired", "csr-forged"):
        assert codes[attempt][0] == grpc.StatusCode.UNAUTHENTICATED, codes
    assert "expired" in codes["expired"][1], codes
    assert not refused_registered(mesh)


def test_the_vm_registers_with_istios_name_and_annotations_and_turns_healthy(
    vm: tuple[LocalMesh, Vm],
) -> None:
    mesh, host = vm
    name = f"vm-{host.ip}"
    try:
        entry = until(lambda: entries(mesh).get(name), 60, "the WorkloadEntry")
        healthy = until(
            lambda: [c for c in entries(mesh)[name].get("status", {}).get("conditions", [])
                     if c.get("status") == "True"], 30, "healthy")  # fmt: skip
    except AssertionError:
        print(host.logs())
        raise
    annotations = entry["metadata"]["annotations"]
    assert annotations["istio.io/autoRegistrationGroup"] == "vm"
    assert annotations["proxy.istio.io/health-checks-enabled"] == "true"
    assert "istio.io/connectedAt" in annotations
    assert entry["spec"]["address"] == host.ip
    assert entry["spec"]["serviceAccount"] == "vm-sa"
    assert entry["spec"]["labels"]["app"] == "vmapp"
    assert entry["spec"]["ports"] == {"http": 8080}
    assert annotations["istio.io/workloadController"].startswith("pilotfish-")
    assert entry["metadata"]["ownerReferences"][0]["kind"] == "WorkloadGroup"
    assert not refused_registered(mesh)  # the attempts, refused
    assert healthy[0]["type"] == "Healthy"
    assert "istio-token" not in (host.folder / "agent.log").read_text()


def test_a_mesh_pod_calls_the_vm_over_mtls(vm: tuple[LocalMesh, Vm]) -> None:
    mesh, host = vm
    url = "http://vmapp.vm.svc.cluster.local:8080/headers"
    resolve = f"vmapp.vm.svc.cluster.local:8080:{host.ip}"

    def call() -> str:
        out = mesh.pilotfish("exec", "sleep", "--", "curl", "-s", "--max-time", "5",
                             "--resolve", resolve, url, timeout=60)  # fmt: skip
        return out.stdout if "X-Forwarded-Client-Cert" in out.stdout else ""

    body = until(call, 30, "sleep -> vm")
    assert "By=spiffe://cluster.local/ns/vm/sa/vm-sa" in body, body
    assert "URI=spiffe://cluster.local/ns/default/sa/sleep" in body, body


def test_the_vm_calls_a_mesh_service_with_its_identity(vm: tuple[LocalMesh, Vm]) -> None:
    mesh, host = vm
    httpbin = mesh.proxy("httpbin-v1-0")["ip"]
    target = "httpbin.default.svc.cluster.local:8000"

    def call() -> str:
        out = host.run("curl", "-s", "--max-time", "5", "--resolve", f"{target}:{httpbin}",
                       f"http://{target}/headers")  # fmt: skip
        return out.stdout if "X-Forwarded-Client-Cert" in out.stdout else ""

    body = until(call, 30, "vm -> httpbin")
    assert "URI=spiffe://cluster.local/ns/vm/sa/vm-sa" in body, body


def _health(mesh: LocalMesh, name: str) -> str:
    conditions = entries(mesh)[name].get("status", {}).get("conditions", [])
    return str(conditions[0]["status"]) if conditions else ""


def test_the_groups_probe_marks_the_vm_unhealthy_then_healthy(vm: tuple[LocalMesh, Vm]) -> None:
    mesh, host = vm
    name = f"vm-{host.ip}"
    host.app.terminate()  # the probe (GET :8080/status/200) now fails
    host.app.wait(10)
    until(lambda: _health(mesh, name) == "False", 30, "the entry to turn unhealthy")
    message = entries(mesh)[name]["status"]["conditions"][0]["message"]
    assert "8080" in message, message
    registry = json.loads(http(f"{mesh.info['api']}/debug/registryz").body)
    rows = [i for i in registry["instances"] if i.get("name") == name]
    assert [r["ready"] for r in rows] == [False], rows  # no traffic to it meanwhile
    host.app = host.start_app()
    until(lambda: _health(mesh, name) == "True", 30, "the entry to turn healthy again")


def test_the_entry_is_removed_after_the_grace_period_when_the_vm_leaves(
    vm: tuple[LocalMesh, Vm],
) -> None:
    mesh, host = vm
    name = f"vm-{host.ip}"
    assert name in entries(mesh)
    host.stop_agent()
    stopped = time.monotonic()
    until(lambda: name not in entries(mesh), 30, "the entry to be cleaned up")
    assert time.monotonic() - stopped > 0.5
    env = parse_env((host.folder / VM_PATHS["cluster.env"]).read_text())
    assert env["ISTIO_META_AUTO_REGISTER_GROUP"] == "vm"
