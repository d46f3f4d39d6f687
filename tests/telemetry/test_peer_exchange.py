"""The peer exchange as translation writes it (`telemetry.exchange`): who sends, who reads, and
where the server rewrites what it reads."""

from __future__ import annotations

from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2 as h2m_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from tests.translate.translate_harness import TESTDATA, bookinfo_push, load_case, sidecar_for

from pilotfish.config import load
from pilotfish.model.push_context import PushContext
from pilotfish.telemetry.exchange import (
    FILTER_NAME,
    IDENTITY_FILTER,
    PEER_HEADER,
    PEER_KEY,
    PEER_NAMESPACE,
)
from pilotfish.translate import generate
from pilotfish.translate.envoy_pb import HCM_FILTER
from pilotfish.translate.mtls import MTLS_CHAIN, PLAINTEXT_CHAIN
from pilotfish.type_urls import LISTENER as LISTENER_TYPE
from pilotfish.type_urls import ROUTE as ROUTE_TYPE

STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
"""


def _readers(config_yaml: str = "") -> dict[str, list[h2m_pb2.Config]]:
    """reviews-v2's inbound port 9080: each filter chain's `header_to_metadata` configs."""
    push = bookinfo_push(config_yaml)
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    listener = generate(proxy, push)[LISTENER_TYPE][f"inbound_{proxy.ip}_9080"]
    found: dict[str, list[h2m_pb2.Config]] = {}
    for chain in listener.filter_chains:
        manager = hcm_pb2.HttpConnectionManager()
        chain.filters[-1].typed_config.Unpack(manager)
        configs = found.setdefault(chain.name, [])
        for http_filter in manager.http_filters:
            if http_filter.name == FILTER_NAME:
                configs.append(h2m_pb2.Config())
                http_filter.typed_config.Unpack(configs[-1])
    return found


def test_the_server_reads_the_client_header_first_and_removes_it() -> None:
    readers = _readers()
    assert set(readers) == {MTLS_CHAIN, PLAINTEXT_CHAIN}  # PERMISSIVE, Istio's default
    for chain, configs in readers.items():
        (config,) = configs
        (rule,) = config.request_rules
        assert not config.response_rules, chain
        assert (rule.header, rule.remove) == (PEER_HEADER, True)
        value = rule.on_header_present
        assert (value.metadata_namespace, value.key) == (PEER_NAMESPACE, PEER_KEY)


def test_only_a_chain_open_to_clients_outside_the_mesh_rewrites_what_it_reads() -> None:
    """A plaintext client may be anything and send anything: the value keeps only what a sidecar
    sends (the packing of the labels stays whole). On the mTLS chain the client is a sidecar (a
    mesh certificate is required), which sends nothing else: no regex per request."""
    readers = _readers()
    (plain,) = readers[PLAINTEXT_CHAIN][0].request_rules
    rewrite = plain.on_header_present.regex_value_rewrite
    assert (rewrite.pattern.regex, rewrite.substitution) == ("[^A-Za-z0-9._;-]+", "")
    (mutual,) = readers[MTLS_CHAIN][0].request_rules
    assert not mutual.on_header_present.HasField("regex_value_rewrite")
    # STRICT: only the mTLS chain, no rewrite
    (strict,) = _readers(STRICT)[MTLS_CHAIN]
    assert not strict.request_rules[0].on_header_present.HasField("regex_value_rewrite")


SERVER_OFF = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: %s, namespace: %s}
spec:
  metrics:
  - overrides: [{match: {metric: ALL_METRICS, mode: SERVER}, disabled: %s}]
"""
MESH_OFF = SERVER_OFF % ("mesh-default", "istio-system", "true")
NAMESPACE_OFF = SERVER_OFF % ("default-off", "default", "true")
NAMESPACE_ON = SERVER_OFF % ("default-on", "default", "false")


def _sent_and_removed(config_yaml: str) -> tuple[bool, bool]:
    """reviews-v2: (whether its outbound listener sends its identity, whether its inbound
    routes remove the header)."""
    push = bookinfo_push(config_yaml)
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    resources = generate(proxy, push)
    client = hcm_pb2.HttpConnectionManager()
    outbound = resources[LISTENER_TYPE]["outbound_http_proxy"]
    outbound.filter_chains[0].filters[0].typed_config.Unpack(client)
    removed = resources[ROUTE_TYPE]["inbound|9080||"].request_headers_to_remove
    return IDENTITY_FILTER in [f.name for f in client.http_filters], PEER_HEADER in removed


def test_a_server_that_counts_nothing_reads_no_peer_and_its_routes_remove_the_header() -> None:
    """Server-side metrics off in one namespace: no reading filter; the inbound route
    configuration removes the header instead (the app still never sees it). The client side
    still sends its identity: it cannot know whether the server it calls counts."""
    assert _readers(NAMESPACE_OFF) == {MTLS_CHAIN: [], PLAINTEXT_CHAIN: []}
    assert _sent_and_removed(NAMESPACE_OFF) == (True, True)
    # when the server counts, the reading filter removes it: the routes do not
    assert _sent_and_removed("") == (True, False)


def test_nothing_is_sent_when_no_server_of_the_mesh_counts_and_it_comes_back_with_one() -> None:
    """A mesh-wide Telemetry turning every server-side metric off: no server reads a client's
    identity, so no client sends it and no server removes it (nothing reads it: Istio's labels
    are not printed anywhere). A Telemetry that may turn a server's metrics on again brings
    the whole exchange back: the client sends, that server reads it."""
    assert _readers(MESH_OFF) == {MTLS_CHAIN: [], PLAINTEXT_CHAIN: []}
    assert _sent_and_removed(MESH_OFF) == (False, False)
    both = MESH_OFF + "---" + NAMESPACE_ON
    assert _sent_and_removed(both) == (True, False)
    assert [len(configs) for configs in _readers(both).values()] == [1, 1]


def _gateway_sends(config_yaml: str) -> list[bool]:
    """The testdata gateway (Bookinfo's): whether each HTTP manager of its listeners sends."""
    proxy, push = load_case(TESTDATA / "gateway")
    extra = load(config_yaml, "test.yaml").objects if config_yaml else []
    push = PushContext(registry=push.registry, configs=(*push.configs, *extra), mesh=push.mesh)
    sends = []
    for listener in generate(proxy, push)[LISTENER_TYPE].values():
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name == HCM_FILTER:
                    manager = hcm_pb2.HttpConnectionManager()
                    network_filter.typed_config.Unpack(manager)
                    sends.append(IDENTITY_FILTER in [f.name for f in manager.http_filters])
    return sends


def test_a_gateway_sends_its_identity_only_while_a_server_may_read_it() -> None:
    assert _gateway_sends("") and all(_gateway_sends(""))
    assert _gateway_sends(MESH_OFF) and not any(_gateway_sends(MESH_OFF))
    assert all(_gateway_sends(MESH_OFF + "---" + NAMESPACE_ON))
