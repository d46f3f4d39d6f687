"""Unit tests: the proxy's own identity read from its Envoy's environment
(`telemetry.identity_env`): the loggers and the peer header give exactly the literal values
once the variables are put in, proxies that differ only in identity get the same bytes, and
the control plane writes the operators only for a proxy that declares exactly its variables."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from tests.telemetry.test_http_stats import IDENTITIES, POLICIES, SERVICES

from pilotfish.model.node import node_metadata, proxy_from_node
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.telemetry import http_stats, identity_env
from pilotfish.telemetry.exchange import Identity, identity_filter, identity_of
from pilotfish.telemetry.labels import Reporter, ServiceLabels
from pilotfish.telemetry.metrics import MetricsPolicy, TagOverride


def _with_variables(data: bytes, env: dict[str, str]) -> bytes:
    """A logger with each `%ENVIRONMENT(NAME)%` of its tags replaced by the variable's value
    (what Envoy's formatter gives: the value, read once)."""
    log = accesslog_pb2.AccessLog.FromString(data)
    config = stats_pb2.Config()
    log.typed_config.Unpack(config)
    for stat in [c.stat for c in config.counters] + [h.stat for h in config.histograms]:
        for tag in stat.tags:
            for name, value in env.items():
                tag.value_format = tag.value_format.replace(identity_env.operator(name), value)
    log.typed_config.Pack(config)
    out: bytes = log.SerializeToString()
    return out


@pytest.mark.parametrize(
    ("me", "service", "policy"), list(itertools.product(IDENTITIES, SERVICES, POLICIES))
)
def test_loggers_reading_the_environment_give_the_literal_values(
    me: Identity, service: ServiceLabels | None, policy: MetricsPolicy
) -> None:
    env = identity_env.environment(me)
    for reporter, mtls in itertools.product(Reporter, (None, True, False)):
        direct = http_stats.built(reporter, me, policy, service, mtls)
        read = http_stats.http_stats_bytes(reporter, me, policy, service, mtls, (), True)
        assert tuple(_with_variables(data, env) for data in read) == direct


def test_the_default_policy_reads_every_own_label_from_the_environment() -> None:
    me, other = IDENTITIES[0], replace(IDENTITIES[0], workload="reviews-v2", version="v2")
    service = SERVICES[1]
    for reporter in Reporter:
        mine = http_stats.http_stats_bytes(reporter, me, MetricsPolicy(), service, True, (), True)
        theirs = http_stats.http_stats_bytes(
            reporter, other, MetricsPolicy(), service, True, (), True
        )
        assert mine == theirs  # shared: no own value left in them
        variable = identity_env.VARIABLES[reporter].encode()
        assert all(variable in data for data in mine)
        assert not any(b"reviews-v1" in data for data in mine)


def test_an_override_of_an_own_label_keeps_the_literals_in_its_tags() -> None:
    policy = MetricsPolicy(overrides=(TagOverride("ALL_METRICS", None, "source_app", True),))
    me = IDENTITIES[0]
    read = http_stats.http_stats_bytes(Reporter.SOURCE, me, policy, None, None, (), True)
    assert read == http_stats.built(Reporter.SOURCE, me, policy, None, None)
    assert not any(b"ENVIRONMENT" in data for data in read)


def _peer_header(me: Identity, read: str = "") -> str:
    config = header_mutation_pb2.HeaderMutation()
    identity_filter(me, read).typed_config.Unpack(config)
    value: str = config.mutations.request_mutations[0].append.header.value
    return value


def test_the_peer_header_reads_the_environment() -> None:
    for me in IDENTITIES:
        read = identity_env.operator(identity_env.PEER_VARIABLE)
        assert _peer_header(me, read) == read
        env = identity_env.environment(me)
        assert env[identity_env.PEER_VARIABLE] == _peer_header(me) == me.header_value()


PROXY = Proxy(
    type=ProxyType.SIDECAR,
    ip="127.31.0.2",
    instance="reviews-v1-0",
    namespace="default",
    labels=(("app", "reviews"), ("version", "v1")),
    workload="reviews-v1",
)


def test_only_a_proxy_declaring_exactly_its_variables_reads_them() -> None:
    me = identity_of(PROXY)
    env = identity_env.environment(me)
    declaring = replace(PROXY, identity_env=tuple(sorted(env.items())))
    assert identity_env.declared(declaring, me)
    assert not identity_env.declared(PROXY, me)  # declares none
    stale = dict(env) | {identity_env.PEER_VARIABLE: "other;default;x;v1;x;v1;Kubernetes"}
    assert not identity_env.declared(replace(PROXY, identity_env=tuple(sorted(stale.items()))), me)
    # what the agent writes in the node metadata is what the control plane reads back
    again = proxy_from_node(declaring.id, node_metadata(declaring))
    assert again.identity_env == declaring.identity_env
    assert proxy_from_node(PROXY.id, node_metadata(PROXY)).identity_env == ()
    odd = node_metadata(PROXY) | {identity_env.METADATA_KEY: "not a map"}
    assert proxy_from_node(PROXY.id, odd).identity_env == ()
