"""The isolated mode's pure parts: the clear error when not root, each pod's /etc/hosts, the
mesh's 10.A addresses, and the node metadata that tells the control plane a pod is captured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pilotfish.capture import netns
from pilotfish.capture.rules import CaptureError
from pilotfish.cli.up import up_command
from pilotfish.local.network import MeshNetwork
from pilotfish.local.pods import hosts_file
from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.registry.manifest import Manifest
from pilotfish.registry.types import Protocol, Service, ServicePort
from pilotfish.registry.workloads import WorkloadSpec


def test_not_root_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(CaptureError, match="needs root"):
        netns.require_root("pilotfish up --isolated")
    code = up_command(None, tmp_path, "127.0.0.1", False, False, 5.0, isolated=True)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: pilotfish up --isolated needs root"), err
    assert not (tmp_path / "network.json").exists()  # nothing was started


def _service(name: str, namespace: str = "default") -> Service:
    return Service(
        name,
        namespace,
        (ServicePort("http", 9080, Protocol.HTTP, 9080),),
        selector=(("app", name),),
    )


def test_hosts_map_service_names_to_an_instance() -> None:
    manifest = Manifest(
        services=(_service("reviews"), _service("ratings"), _service("httpbin", "foo")),
        workloads=(
            WorkloadSpec("reviews-v2", "default", (("app", "reviews"),)),
            WorkloadSpec("reviews-v1", "default", (("app", "reviews"),)),
            WorkloadSpec("httpbin", "foo", (("app", "httpbin"),)),
        ),
    )
    addresses = {
        "reviews-v2-0.default": "10.9.1.1",
        "reviews-v1-0.default": "10.9.1.2",
        "httpbin-0.foo": "10.9.1.3",
    }
    text = hosts_file(manifest, addresses, "reviews-v2-0", "default", {})
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.9.1.1\treviews-v2-0" in lines
    # the first instance by name; short names only in the pod's own namespace
    assert (
        "10.9.1.2\treviews.default.svc.cluster.local reviews.default.svc reviews.default reviews"
        in lines
    )
    assert "10.9.1.3\thttpbin.foo.svc.cluster.local httpbin.foo.svc httpbin.foo" in lines
    assert not any("ratings" in line for line in lines)  # no instance: no name
    # a pod with a sidecar: every name resolves to its service's cluster IP (with or without
    # instances), the pod's own name to its own address
    vips = {
        "reviews.default.svc.cluster.local": "10.9.240.7",
        "ratings.default.svc.cluster.local": "10.9.240.8",
    }
    lines = hosts_file(manifest, addresses, "reviews-v2-0", "default", vips).splitlines()
    assert "10.9.1.1\treviews-v2-0" in lines
    assert (
        "10.9.240.7\treviews.default.svc.cluster.local reviews.default.svc reviews.default reviews"
        in lines
    )
    assert any(line.startswith("10.9.240.8\tratings.default.svc.cluster.local") for line in lines)
    assert "10.9.1.3\thttpbin.foo.svc.cluster.local httpbin.foo.svc httpbin.foo" in lines


def test_a_pod_with_dns_capture_resolves_the_service_entries_it_sees() -> None:
    manifest = Manifest(
        services=(_service("reviews"),),
        workloads=(WorkloadSpec("reviews-v1", "default", (("app", "reviews"),)),),
    )
    entries: list[dict[str, Any]] = [
        {"namespace": "default", "host": "auto.internal", "address": "240.240.0.1"},
        {"namespace": "foo", "host": "own.internal", "address": "198.51.100.1"},
        {"namespace": "bar", "host": "private.internal", "address": "240.240.0.2",
         "exportTo": ["."]},
    ]  # fmt: skip
    lines = hosts_file(manifest, {}, "reviews-v1-0", "default", {}, entries).splitlines()
    assert "240.240.0.1\tauto.internal" in lines
    assert "198.51.100.1\town.internal" in lines
    assert not any("private.internal" in line for line in lines)  # exported to bar only
    assert "auto.internal" not in hosts_file(manifest, {}, "reviews-v1-0", "default", {})
    # a Kubernetes-shaped host also under the names the pod's search domains expand
    echo = {"namespace": "default", "host": "tcp-echo.ext.svc.cluster.local", "address": "1.2.3.4"}
    lines = hosts_file(manifest, {}, "reviews-v1-0", "default", {}, [echo]).splitlines()
    assert "1.2.3.4\ttcp-echo.ext.svc.cluster.local tcp-echo.ext tcp-echo.ext.svc" in lines


def test_isolated_network_addresses() -> None:
    network = MeshNetwork(37, isolated=True)
    assert network.control_plane_ip == "10.37.0.1"
    assert network.ip_for("a-0.default") == "10.37.1.1"
    assert network.service_cidr == "10.37.240.0/21"  # VIPs: inside the mesh's 10.37.0.0/16
    assert MeshNetwork(37).service_cidr == ""  # not isolated: no capture, no VIPs
    assert MeshNetwork(37).control_plane_ip == "127.37.0.1"
    bridge = netns.MeshBridge(37, "/tmp/x")
    assert (bridge.name, bridge.address, bridge.netns_name("a-0.default")) == (
        "pfbr37",
        "10.37.0.1",
        "pf37-a-0.default",
    )
    assert len(netns.host_link(254, "10.254.250.250")) <= 15  # Linux's interface name limit


def test_interception_mode_travels_in_node_metadata() -> None:
    proxy = Proxy(ProxyType.SIDECAR, "10.9.1.1", "a-0", "default", interception="REDIRECT")
    metadata = node_metadata(proxy)
    assert metadata["INTERCEPTION_MODE"] == "REDIRECT"
    assert proxy_from_node(proxy.id, metadata).captured
    plain = Proxy(ProxyType.SIDECAR, "127.9.1.1", "a-0", "default")
    assert "INTERCEPTION_MODE" not in node_metadata(plain)
    assert not proxy_from_node(plain.id, node_metadata(plain)).captured
