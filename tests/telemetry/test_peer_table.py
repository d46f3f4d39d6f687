"""The table a TCP server reads its client from (`telemetry.exchange.principal_table`): built
from the registry's sidecar workloads, read only by mutual TLS TCP servers (the golden
`authz-tcp` shows it on the inbound cluster of that chain)."""

from __future__ import annotations

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot, WorkloadInstance
from pilotfish.telemetry.exchange import (
    PEERS_METADATA,
    Identity,
    cluster_metadata,
    identity,
    principal_table,
    source_by_certificate,
)
from pilotfish.telemetry.labels import Reporter, label_plan
from pilotfish.translate.observability import principal_table as push_table

URI = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


def _reviews(version: str) -> tuple[str, Identity]:
    return URI, identity({"app": "reviews", "version": version}, f"reviews-{version}", "default")


def test_one_workload_per_certificate_gives_all_its_fields() -> None:
    ratings = identity({"app": "ratings", "version": "v2"}, "ratings-v2", "default")
    table = principal_table([("spiffe://td/ns/default/sa/ratings-v2", ratings)])
    assert table == {"spiffe://td/ns/default/sa/ratings-v2": ratings.header_value()}


def test_fields_the_workloads_of_one_certificate_do_not_share_are_left_empty() -> None:
    pairs = [_reviews("v1"), _reviews("v2"), _reviews("v1")]
    table = principal_table(pairs)
    # workload, namespace, canonical service, canonical revision, app, version, cluster
    assert table == {URI: ";default;reviews;;reviews;;Kubernetes"}


def test_the_table_rides_on_cluster_metadata_the_logger_reads() -> None:
    metadata = cluster_metadata({URI: "a;b"})
    assert dict(metadata.filter_metadata[PEERS_METADATA]) == {URI: "a;b"}
    operator = source_by_certificate()
    assert operator.startswith("%CEL(") and operator.endswith(")%")
    assert "connection.uri_san_peer_certificate" in operator and PEERS_METADATA in operator


def test_only_a_mutual_tls_tcp_server_reads_the_certificate_table() -> None:
    me = identity({"app": "db"}, "db-v1", "default")
    reads = label_plan(Reporter.DESTINATION, me, None, protocol="tcp", mtls=True)
    assert source_by_certificate() in str(reads.tags())
    plain = label_plan(Reporter.DESTINATION, me, None, protocol="tcp", mtls=False)
    assert "CEL" not in str(plain.tags())
    assert plain.fixed["source_workload"] == "unknown"


def test_a_push_context_lists_sidecar_workloads_by_trust_domain_uri() -> None:
    pods = (
        WorkloadInstance("r-0", "ratings-v2", "bar", "127.1.0.5", (("app", "ratings"),), "rv2"),
        WorkloadInstance("x-0", "plain", "bar", "127.1.0.6", (), "plain", sidecar=False),
    )
    table = push_table(PushContext(registry=RegistrySnapshot(instances=pods)))
    gateway = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    assert list(table) == ["spiffe://cluster.local/ns/bar/sa/rv2", gateway]
    assert table["spiffe://cluster.local/ns/bar/sa/rv2"].startswith("ratings-v2;bar;ratings;")
    # local mode's own ingress gateway (no registry instance), as Istio's metrics name it
    expected = "istio-ingressgateway;istio-system;istio-ingressgateway;latest;istio-ingressgateway"
    assert table[gateway] == f"{expected};unknown;Kubernetes"


def test_a_registry_instance_holding_the_gateways_identity_is_the_one_listed() -> None:
    pod = WorkloadInstance(
        "gw-0", "my-gateway", "istio-system", "127.1.0.7",
        (("app", "my-gateway"), ("istio", "ingressgateway")),
        "istio-ingressgateway-service-account",
    )  # fmt: skip
    table = push_table(PushContext(registry=RegistrySnapshot(instances=(pod,))))
    assert list(table.values()) == [
        "my-gateway;istio-system;my-gateway;latest;my-gateway;unknown;Kubernetes"
    ]
