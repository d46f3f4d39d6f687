"""Cluster IPs (`registry.cluster_ips`): what the API server's allocator would give, computed
alike by the control plane and the launcher; `spec.clusterIP` as written in a Service."""

from __future__ import annotations

from pilotfish import config
from pilotfish.registry.cluster_ips import (
    auto_addresses,
    cluster_ip,
    cluster_ips,
    entry_addresses,
    with_cluster_ips,
)
from pilotfish.registry.manifest import parse_manifest
from pilotfish.registry.types import Protocol, Service, ServicePort

CIDR = "10.42.240.0/21"


def _service(name: str, namespace: str = "default", **fields: object) -> Service:
    ports = (ServicePort("tcp", 9000, Protocol.TCP, 9000),)
    return Service(name, namespace, ports, (("app", name),), **fields)  # type: ignore[arg-type]


def test_every_kubernetes_service_gets_a_stable_address_in_the_range() -> None:
    services = tuple(_service(n) for n in ("reviews", "ratings", "tcp-echo"))
    first = cluster_ips(with_cluster_ips(services, CIDR))
    assert set(first) == {s.hostname for s in services}
    assert len(set(first.values())) == 3
    assert all(
        ip.startswith("10.42.") and 240 <= int(ip.split(".")[2]) < 248 for ip in first.values()
    )
    # the same services in another order, and with one more: the same addresses
    more = (_service("details"), *reversed(services))
    again = cluster_ips(with_cluster_ips(more, CIDR))
    assert {h: again[h] for h in first} == first


def test_written_headless_service_entries_and_no_range_are_kept() -> None:
    written = _service("fixed", addresses=("10.42.240.1",))
    headless = _service("headless", headless=True)
    entry = Service(
        "api", "default", written.ports, host="api.example.com", addresses=("10.1.0.0/16",)
    )
    plain = _service("plain")
    out = {s.name: s for s in with_cluster_ips((plain, written, headless, entry), CIDR)}
    assert out["fixed"].addresses == ("10.42.240.1",)
    assert out["headless"].addresses == ()
    assert out["api"].addresses == ("10.1.0.0/16",) and cluster_ip(out["api"]) == ""
    assert out["plain"].addresses not in ((), ("10.42.240.1",))  # the written one is taken
    assert cluster_ips(out.values()).keys() == {out["fixed"].hostname, out["plain"].hostname}
    assert with_cluster_ips((plain,), "") == (plain,)


def test_cluster_ip_field_of_a_service() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.42.240.9, ports: [{name: tcp, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {clusterIP: None, ports: [{name: tcp, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: c}
spec: {clusterIP: not-an-ip, ports: [{name: tcp, port: 9000}]}
"""
    manifest, problems = parse_manifest(config.load(text, "/m.yaml").others)
    services = {s.name: s for s in manifest.services}
    assert services["a"].addresses == ("10.42.240.9",) and not services["a"].headless
    assert services["b"].addresses == () and services["b"].headless
    assert "c" not in services
    assert [str(p) for p in problems] == [
        "/m.yaml:14: Service c at spec.clusterIP: 'not-an-ip' is not an IP address (or None)"
    ]


def _entry(host: str, resolution: str = "DNS", **fields: object) -> Service:
    ports = (ServicePort("tcp", 9000, Protocol.TCP, 9000),)
    return Service(host, "default", ports, host=host, resolution=resolution, **fields)  # type: ignore[arg-type]


def test_service_entries_without_addresses_get_istios_allocated_ones() -> None:
    """Istio's IP autoallocate controller: 240.240.0.1 first, one per host, kept; not for a
    wildcard, resolution NONE, own addresses or the opt-out label."""
    opted_out = (("networking.istio.io/enable-autoallocate-ip", "false"),)
    entries = (
        _entry("auto.internal"),
        _entry("*.wild.internal"),
        _entry("none.internal", "NONE"),
        _entry("own.internal", addresses=("198.51.100.1",)),
        _entry("out.internal", labels=opted_out),
        _entry("static.internal", "STATIC"),
    )
    auto = auto_addresses(entries, {})
    assert auto == {
        ("default", "auto.internal"): "240.240.0.1",
        ("default", "static.internal"): "240.240.0.2",
    }
    # a new host later, an earlier one gone: allocations are kept, the next free one is used
    later = auto_addresses((_entry("new.internal"), entries[-1]), auto)
    assert later[("default", "new.internal")] == "240.240.0.3"
    assert later[("default", "static.internal")] == "240.240.0.2"
    out = with_cluster_ips(entries, CIDR, auto)
    assert [cluster_ip(s) for s in out] == [
        "240.240.0.1", "", "", "198.51.100.1", "", "240.240.0.2"
    ]  # fmt: skip
    assert with_cluster_ips(entries, "", auto) == entries  # no service range: unchanged
    names = {e["host"]: e["address"] for e in entry_addresses(out)}
    assert names == {
        "auto.internal": "240.240.0.1",
        "own.internal": "198.51.100.1",
        "static.internal": "240.240.0.2",
    }
