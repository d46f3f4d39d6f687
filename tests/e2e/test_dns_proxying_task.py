"""Istio's "DNS Proxying" page (ops/configuration/traffic-management/dns-proxy), walked step by
step in the isolated mode (`up --isolated`: pods in network namespaces, Istio's capture), its
YAML and commands as the page gives them, `kubectl`/`istioctl` read as `pilotfish`.

The page's external world is the test's: two network namespaces on the mesh's bridge stand for
its `external-1`/`external-2` tcp-echo servers (the page runs them in namespaces Istio does not
discover; pilotfish has no `discoverySelectors`, see the README), and the first one also runs
the stand-in DNS (`dnskit`) that the sidecars' Envoys are told to use (PILOTFISH_DNS_RESOLVERS):
it knows `tcp-echo.external-N.svc.cluster.local`, nothing else; nothing reaches the internet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.meshctl import NEEDS_ISOLATION, ROOT, LocalMesh

from pilotfish.capture import netns

pytestmark = [
    pytest.mark.host_network,
    NEEDS_ISOLATION,
]

INSTALL = """apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  meshConfig:
    defaultConfig:
      proxyMetadata:
        # Enable basic DNS proxying
        ISTIO_META_DNS_CAPTURE: "true"
        # Enable automatic address allocation, optional
        ISTIO_META_DNS_AUTO_ALLOCATE: "true"
"""
EXTERNAL_ADDRESS = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-address
spec:
  addresses:
  - 198.51.100.1
  hosts:
  - address.internal
  ports:
  - name: http
    number: 80
    protocol: HTTP
"""
EXTERNAL_AUTO = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-auto
spec:
  hosts:
  - auto.internal
  ports:
  - name: http
    number: 80
    protocol: HTTP
  resolution: DNS
"""
EXTERNAL_SVCS = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-svc-1
spec:
  hosts:
  - tcp-echo.external-1.svc.cluster.local
  ports:
  - name: external-svc-1
    number: 9000
    protocol: TCP
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-svc-2
spec:
  hosts:
  - tcp-echo.external-2.svc.cluster.local
  ports:
  - name: external-svc-2
    number: 9000
    protocol: TCP
  resolution: DNS
"""
OPT_OUT = EXTERNAL_AUTO.replace(
    "  name: external-auto\n",
    '  name: external-auto\n  labels:\n    networking.istio.io/enable-autoallocate-ip: "false"\n',
)
NO_CAPTURE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: curl-no-dns
spec:
  replicas: 1
  selector:
    matchLabels: {app: curl-no-dns}
  template:
    metadata:
      labels: {app: curl-no-dns}
      annotations:
        proxy.istio.io/config: |
          proxyMetadata:
            ISTIO_META_DNS_CAPTURE: "false"
    spec:
      containers:
      - name: curl
        image: curlimages/curl
        command: ["/bin/sleep", "infinity"]
"""
SEND_LINE = (
    "import socket,sys; s=socket.create_connection((sys.argv[1], 9000), timeout=5); "
    "s.sendall(b'hello\\n'); print(s.makefile().readline().strip())"
)


class External:
    """The page's external-1 and external-2: one network namespace each on the mesh's bridge
    (no capture, no sidecar), a tcp-echo server in each, the stand-in DNS in the first."""

    def __init__(self, block: int, home: Path, folder: Path) -> None:
        self.bridge = netns.MeshBridge(block, str(home.resolve()))
        self.ips = {n: f"10.{block}.251.{n}" for n in (1, 2)}
        self.names = {n: self.bridge.netns_name(f"external-{n}") for n in (1, 2)}
        self.processes: list[subprocess.Popen[bytes]] = []
        hosts = "127.0.0.1\tlocalhost\n"
        mapping = {f"tcp-echo.external-{n}.svc.cluster.local": ip for n, ip in self.ips.items()}
        try:
            for n, ip in self.ips.items():
                netns.add_pod(self.bridge, self.names[n], ip, hosts, None)
                echo = [sys.executable, "samples/tcp-echo/tcp_echo.py", ["one", "two"][n - 1]]
                self._start(n, echo, folder / f"echo-{n}.log", HOST=ip, PORT="9000")
            dns = [sys.executable, "-m", "tests.e2e.dnskit", self.ips[1], json.dumps(mapping)]
            self._start(1, dns, folder / "dns.log")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def resolver_of(block: int) -> str:
        """The stand-in DNS (in external-1), as the sidecars are told to use it."""
        return f"10.{block}.251.1:53"

    def _start(self, n: int, argv: list[str], log: Path, **env: str) -> None:
        with log.open("ab") as out:
            self.processes.append(
                subprocess.Popen(
                    netns.in_netns(self.names[n], argv),
                    cwd=ROOT,
                    env=dict(os.environ, **env),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        for name in self.names.values():
            netns.remove_pod(name)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalMesh, External]]:
    home = tmp_path_factory.mktemp("home")
    mesh = LocalMesh(home, None, isolated=True)
    first = mesh.up()  # the mesh's block, which the stand-in world's addresses are in
    assert first.returncode == 0, first.stdout + first.stderr
    block = int(mesh.info["block"])
    mesh.down()
    mesh.env["PILOTFISH_DNS_RESOLVERS"] = External.resolver_of(block)
    again = mesh.up()
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert int(mesh.info["block"]) == block
        external = External(block, home, tmp_path_factory.mktemp("external"))
        try:
            yield mesh, external
        finally:
            external.stop()
    finally:
        mesh.down()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def curl(mesh: LocalMesh, host: str) -> subprocess.CompletedProcess[str]:
    """The page's `kubectl exec deploy/curl -- curl -sS -v HOST`."""
    return mesh.pilotfish("exec", "deploy/curl", "--", "curl", "-sS", "-v", host, timeout=60)


def test_getting_started_installs_with_dns_capture(task: tuple[LocalMesh, External]) -> None:
    mesh, _ = task
    ok(mesh.pilotfish("install", "-y", "-f", "-", stdin=INSTALL, timeout=180))


def test_dns_capture_in_action(task: tuple[LocalMesh, External]) -> None:
    mesh, _ = task
    ok(mesh.pilotfish("apply", "-f", "-", stdin=EXTERNAL_ADDRESS))
    ok(mesh.pilotfish("label", "namespace", "default", "istio-injection=enabled", "--overwrite"))
    ok(mesh.pilotfish("apply", "-f", "samples/curl/curl.yaml", timeout=180))
    result = curl(mesh, "address.internal")
    assert "Trying 198.51.100.1:80" in result.stderr, result.stdout + result.stderr


def test_address_auto_allocation(task: tuple[LocalMesh, External]) -> None:
    mesh, _ = task
    ok(mesh.pilotfish("apply", "-f", "-", stdin=EXTERNAL_AUTO))
    mesh.wait_for(
        lambda: "Trying 240.240.0.1:80" in curl(mesh, "auto.internal").stderr,
        30,
        "auto.internal to resolve to its allocated address",
    )
    shown = json.loads(ok(mesh.pilotfish("get", "serviceentry", "external-auto", "-o", "json")))
    assert {"value": "240.240.0.1", "host": "auto.internal"} in shown["status"]["addresses"]


def test_external_tcp_services_without_vips(task: tuple[LocalMesh, External]) -> None:
    mesh, external = task
    ok(mesh.pilotfish("apply", "-f", "-", stdin=EXTERNAL_SVCS))

    def rows() -> list[str]:
        """`istioctl pc listener deploy/curl | grep tcp-echo | awk ...` of the page: the rows
        at allocated addresses (pilotfish also lists its own `<pod IP>_<port>` listeners,
        which the agent's `<NAME>_SERVICE_HOST` variables name: see the README)."""
        table = ok(mesh.pilotfish("pc", "listener", "deploy/curl"))
        return [
            "ADDRESS={}, DESTINATION={} {}".format(f[0], *f[3:5])
            for f in (line.split() for line in table.splitlines() if "tcp-echo" in line)
            if f[0].startswith("240.240.")
        ]

    mesh.wait_for(lambda: len(rows()) == 2, 30, "a listener for each tcp-echo service entry")
    found = {r.split("||")[1]: r.split(",")[0].split("=")[1] for r in rows()}
    assert set(found) == {f"tcp-echo.external-{n}.svc.cluster.local" for n in (1, 2)}, rows()
    assert len(set(found.values())) == 2, rows()
    for n, prefix in ((1, "one"), (2, "two")):
        host = f"tcp-echo.external-{n}.svc.cluster.local"
        got = mesh.pilotfish("exec", "deploy/curl", "--", "python3", "-c", SEND_LINE, host)
        assert got.stdout.strip() == f"{prefix} hello", got.stdout + got.stderr
    short = mesh.pilotfish(
        "exec", "deploy/curl", "--", "python3", "-c", SEND_LINE, "tcp-echo.external-2"
    )
    assert short.stdout.strip() == "two hello", short.stdout + short.stderr  # search domains
    hosts = ok(mesh.pilotfish("exec", "deploy/curl", "--", "cat", "/etc/hosts"))
    for host, address in found.items():
        assert f"{address}\t{host}" in hosts, hosts
    assert external.ips[1] != external.ips[2]


def test_dns_auto_allocation_v2_opt_out_label(task: tuple[LocalMesh, External]) -> None:
    mesh, _ = task
    ok(mesh.pilotfish("apply", "-f", "-", stdin=OPT_OUT))
    mesh.wait_for(
        lambda: "Could not resolve host: auto.internal" in curl(mesh, "auto.internal").stderr,
        30,
        "auto.internal to lose its allocated address",
    )


def test_a_pod_annotation_overrides_the_mesh(task: tuple[LocalMesh, External]) -> None:
    """The page's `proxy.istio.io/config` route, here turning the capture off for one pod:
    without it, `address.internal` does not resolve (the page's "would likely fail")."""
    mesh, _ = task
    ok(mesh.pilotfish("apply", "-f", "-", stdin=NO_CAPTURE, timeout=180))
    argv = ("exec", "deploy/curl-no-dns", "--", "curl", "-sS", "-v", "address.internal")
    result = mesh.pilotfish(*argv, timeout=60)
    assert "Could not resolve host: address.internal" in result.stderr, result.stderr
    assert "Trying 198.51.100.1:80" in curl(mesh, "address.internal").stderr  # the other pod
    ok(mesh.pilotfish("delete", "-f", "-", stdin=NO_CAPTURE, timeout=120))


def test_cleanup(task: tuple[LocalMesh, External]) -> None:
    mesh, _ = task
    ok(mesh.pilotfish("delete", "-f", "samples/curl/curl.yaml", timeout=120))
    ok(mesh.pilotfish("label", "namespace", "default", "istio-injection-"))
    listed = ok(mesh.pilotfish("get", "serviceentries"))
    assert "external-auto" in listed
