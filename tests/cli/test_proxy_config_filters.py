"""istioctl proxy-config's filters on tables and on `-o json` (issue 8, item d)."""

from __future__ import annotations

import re
from typing import Any

from pilotfish.cli.envoy_tables import endpoint_rows
from pilotfish.cli.jsonpath import protojson
from pilotfish.cli.proxy_config import _ecds, full_summary, section_name, selected
from pilotfish.cli.proxy_config_filters import endpoint_hosts

HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local"
CLUSTERS: dict[str, Any] = {
    "static_clusters": [{"cluster": {"name": "admin_self", "type": "STATIC"}}],
    "dynamic_active_clusters": [
        {"cluster": {"name": HTTPBIN, "type": "EDS"}},
        {"cluster": {"name": "outbound|8000|v1|httpbin.default.svc.cluster.local", "type": "EDS"}},
    ],
}
STATUSES: dict[str, Any] = {
    "cluster_statuses": [
        {
            "name": HTTPBIN,
            "host_statuses": [
                {"address": {"socket_address": {"address": "127.9.1.1", "port_value": 8080}}},
                {
                    "address": {"socket_address": {"address": "127.9.1.2", "port_value": 8080}},
                    "health_status": {"failed_outlier_check": True},
                },
            ],
        },
        {
            "name": "admin_self",
            "host_statuses": [
                {"address": {"socket_address": {"address": "127.9.1.3", "port_value": 15000}}}
            ],
        },
    ]
}


def test_endpoint_table_filters_on_the_address_and_port_of_the_endpoint() -> None:
    def shown(filters: dict[str, str]) -> list[str]:
        return [r[0] for r in endpoint_rows(endpoint_hosts(STATUSES, filters))[1:]]

    assert shown({"port": "8080"}) == ["127.9.1.1:8080", "127.9.1.2:8080"]
    assert shown({"address": "127.9.1.3"}) == ["127.9.1.3:15000"]
    assert shown({"port": "9999"}) == []
    assert shown({"cluster": HTTPBIN, "port": "15000"}) == []
    assert shown({"cluster": HTTPBIN.upper(), "status": "healthy"}) == [
        "127.9.1.1:8080",
        "127.9.1.2:8080",
    ]


def test_json_output_keeps_only_the_resources_the_filters_select() -> None:
    fqdn = {"fqdn": "httpbin.default.svc.cluster.local", "subset": ""}
    assert [c["name"] for c in selected("cluster", CLUSTERS, fqdn)] == [
        HTTPBIN,
        "outbound|8000|v1|httpbin.default.svc.cluster.local",
    ]
    assert selected("cluster", CLUSTERS, {"fqdn": "httpbin", "subset": "v1"}) == [
        {"name": "outbound|8000|v1|httpbin.default.svc.cluster.local", "type": "EDS"}
    ]
    by_port = selected("cluster", CLUSTERS, {"port": "8000"})
    assert [c["name"] for c in by_port] == [HTTPBIN, by_port[1]["name"]] and len(by_port) == 2
    assert selected("cluster", CLUSTERS, {"port": "800"}) == []  # `|800|`, not a substring
    ejected = selected("endpoint", STATUSES, {"address": "127.9.1.2"})
    assert [s["name"] for s in ejected] == [HTTPBIN]
    listeners = {
        "dynamic_listeners": [
            {"active_state": {"listener": {"name": "outbound_http_proxy", "address": {
                "socket_address": {"address": "127.9.1.1", "port_value": 15001}}}}},
            {"active_state": {"listener": {"name": "inbound", "address": {
                "socket_address": {"address": "127.9.1.1", "port_value": 8080}}}}},
        ]
    }  # fmt: skip
    (found,) = selected("listener", listeners, {"port": "15001"})
    assert found["name"] == "outbound_http_proxy"


def test_without_filters_every_resource_as_a_list() -> None:
    assert [c["name"] for c in selected("cluster", CLUSTERS, {})] == [
        "admin_self", HTTPBIN, "outbound|8000|v1|httpbin.default.svc.cluster.local"
    ]  # fmt: skip
    assert len(selected("endpoint", STATUSES, {"address": ""})) == len(STATUSES["cluster_statuses"])


def test_protojson_spells_fields_as_istioctl_and_leaves_data_keys() -> None:
    dump = {
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "dynamic_active_secrets": [{"secret": {"tls_certificate": {"certificate_chain": {}}}}],
        "cluster": {
            "lb_policy": "RANDOM",
            "metadata": {"filter_metadata": {"istio": {"default_original_port": 8000}}},
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.x": {}},
        },
        "node": {"metadata": {"INSTANCE_IPS": "1", "some_label": "x"}},
    }
    assert protojson(dump) == {
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "dynamicActiveSecrets": [{"secret": {"tlsCertificate": {"certificateChain": {}}}}],
        "cluster": {
            "lbPolicy": "RANDOM",
            "metadata": {"filterMetadata": {"istio": {"default_original_port": 8000}}},
            "typedExtensionProtocolOptions": {"envoy.extensions.upstreams.http.v3.x": {}},
        },
        "node": {"metadata": {"INSTANCE_IPS": "1", "some_label": "x"}},
    }


def test_log_is_a_proxy_config_type() -> None:
    assert section_name("log") == section_name("o") == "log"
    assert section_name("clusters") == "cluster"


def test_ecds_table_and_the_error_without_the_section(capsys: Any) -> None:
    """istioctl's `proxy-config ecds`: ECDS NAME and TYPE (by type, then name), padded by 5;
    an Envoy that got nothing over ECDS has no such section: istioctl's error, exit 1."""
    wasm = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    stats = "type.googleapis.com/stats.PluginConfig"
    section = {
        "ecds_filters": [
            {"ecds_filter": {"name": n, "typed_config": {"@type": t}}}
            for n, t in (
                ("default.b", wasm),
                ("istio.io/telemetry/stats", stats),
                ("default.a", wasm),
            )
        ]
    }
    assert _ecds(section, "table") == 0
    assert capsys.readouterr().out.splitlines() == [
        "ECDS NAME                    TYPE",
        "default.a                    envoy.extensions.filters.http.wasm.v3.Wasm",
        "default.b                    envoy.extensions.filters.http.wasm.v3.Wasm",
        "istio.io/telemetry/stats     stats.PluginConfig",
    ]
    assert _ecds({}, "table") == 1
    assert capsys.readouterr().err == (
        "Error: config dump has no configuration type "
        "type.googleapis.com/envoy.admin.v3.EcdsConfigDump\n"
    )
    assert section_name("ecds") == "ecds"


def test_all_prints_istioctls_full_summary() -> None:
    """`proxy-config all`: bootstrap versions, then each table with its NAME column (a cluster
    that is not a service's named in both), `secret/` names, an empty line between them;
    `--with-headers` heads each with istioctl's `------ … INFO ------`."""
    node = {
        "metadata": {"ISTIO_VERSION": "1.30.0", "ISTIO_PROXY_SHA": "istio-proxy:abc123"},
        "user_agent_build_version": {
            "version": {"major_number": 1, "minor_number": 40},
            "metadata": {"revision.status": "Clean", "build.type": "RELEASE"},
        },
    }
    dump = {
        "configs": [
            {"@type": "x.BootstrapConfigDump", "bootstrap": {"node": node}},
            {"@type": "x.ClustersConfigDump", **CLUSTERS},
            {"@type": "x.ListenersConfigDump"},
            {"@type": "x.RoutesConfigDump"},
            {"@type": "x.SecretsConfigDump"},
        ]
    }
    text = full_summary(dump, {"cluster_statuses": []}, {"fqdn": "httpbin", "subset": "v1"})
    assert text.split("\n") == [
        "Istio Version:       1.30.0",
        "Istio Proxy Version: abc123",
        "Envoy Version:       1.40.0/Clean/RELEASE",
        "",
        "NAME".ljust(63) + "SERVICE FQDN".ljust(38) + "PORT     SUBSET     DIRECTION     TYPE"
        "     DESTINATION RULE",
        "cluster/outbound|8000|v1|httpbin.default.svc.cluster.local     "  # 58 + padding 5
        "httpbin.default.svc.cluster.local     8000     v1         outbound      EDS      ",
        "",
        "NAME ADDRESSES PORT MATCH DESTINATION",
        "",
        "NAME     VHOST NAME     DOMAINS     MATCH     VIRTUAL SERVICE",
        "",
        "No active or warming secrets found.",
        "",
        "ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER",
        "",
    ]
    everything = full_summary(dump, {"cluster_statuses": []}, {"with-headers": "true"})
    assert everything.startswith("------ BOOTSTRAP INFO ------\n\nIstio Version:")
    assert "\n\n------ CLUSTER INFO ------\n\nNAME " in everything
    assert re.search(r"\ncluster/admin_self +cluster/admin_self +- ", everything), everything
    assert everything.endswith("------ ENDPOINTS INFO ------\n\n" + "ENDPOINT     STATUS     "
                               "OUTLIER CHECK     CLUSTER\n")  # fmt: skip
