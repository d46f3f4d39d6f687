"""PeerAuthentication -> effective mTLS mode (Istio's ComposePeerAuthentication), and what the
mode does to a sidecar's inbound listener and to the clients' auto mTLS endpoints."""

from __future__ import annotations

import pytest
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.mesh_security import MeshMtls
from pilotfish.translate import generate
from pilotfish.translate.mtls import SUPPORTED_CIPHERS, TRANSPORT_SOCKET_MATCH
from pilotfish.translate.peer_authentication import effective_mtls

REVIEWS = {"app": "reviews", "version": "v1"}
SELECT_REVIEWS = "  selector: {matchLabels: {app: reviews}}\n"


def _policy(name: str, namespace: str, body: str, created: str = "") -> str:
    stamp = f", creationTimestamp: '{created}'" if created else ""
    return f"""apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {namespace}{stamp}}}
spec:
{body}
---
"""


def mode_for(config: str, port: int = 9080, labels: dict[str, str] | None = None) -> str:
    push = bookinfo_push(config)
    return effective_mtls("default", labels or REVIEWS, push).at(port)


def test_default_is_permissive() -> None:
    assert mode_for("") == "PERMISSIVE"


def test_mesh_namespace_workload_precedence() -> None:
    mesh = _policy("mesh", "istio-system", "  mtls: {mode: STRICT}")
    namespace = _policy("ns", "default", "  mtls: {mode: DISABLE}")
    workload = _policy(
        "reviews",
        "default",
        "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: PERMISSIVE}",
    )
    assert mode_for(mesh) == "STRICT"
    assert mode_for(mesh + namespace) == "DISABLE"
    assert mode_for(mesh + namespace + workload) == "PERMISSIVE"
    assert mode_for(mesh + namespace + workload, labels={"app": "ratings"}) == "DISABLE"


def test_unset_inherits_from_the_level_above() -> None:
    mesh = _policy("mesh", "istio-system", "  mtls: {mode: STRICT}")
    namespace = _policy("ns", "default", "  mtls: {mode: UNSET}")
    workload = _policy("reviews", "default", "  selector: {matchLabels: {app: reviews}}")
    assert mode_for(mesh + namespace + workload) == "STRICT"


def test_port_level_overrides_and_unset_port_inherits_the_workload() -> None:
    workload = _policy(
        "reviews",
        "default",
        "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: STRICT}\n"
        "  portLevelMtls:\n    '9080': {mode: DISABLE}\n    '9090': {mode: UNSET}",
    )
    push = bookinfo_push(workload)
    effective = effective_mtls("default", REVIEWS, push)
    assert (effective.at(9080), effective.at(9090), effective.at(7070)) == (
        "DISABLE",
        "STRICT",
        "STRICT",
    )


def test_oldest_policy_of_a_level_wins_and_root_namespace_selectors_are_ignored() -> None:
    older = _policy("b-older", "default", "  mtls: {mode: STRICT}", "2026-01-01T00:00:00Z")
    newer = _policy("a-newer", "default", "  mtls: {mode: DISABLE}", "2026-06-01T00:00:00Z")
    assert mode_for(older + newer) == "STRICT"
    in_root = _policy(
        "reviews",
        "istio-system",
        "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: STRICT}",
    )
    assert mode_for(in_root) == "PERMISSIVE"


def test_other_namespaces_policies_do_not_apply() -> None:
    assert mode_for(_policy("ns", "foo", "  mtls: {mode: STRICT}")) == "PERMISSIVE"


@pytest.mark.parametrize(
    ("mode", "chains", "inspector"),
    [
        ("STRICT", ["mtls"], True),
        ("PERMISSIVE", ["mtls", "plaintext"], True),
        ("DISABLE", ["plaintext"], False),
    ],
)
def test_inbound_chains_follow_the_mode(mode: str, chains: list[str], inspector: bool) -> None:
    push = bookinfo_push(_policy("ns", "default", f"  mtls: {{mode: {mode}}}"))
    resources = generate(sidecar_for(push, "reviews-v1-0", (9080, 19080)), push)
    listener = next(
        m for n, m in resources.listeners.items() if n.startswith("inbound_") and n.endswith("9080")
    )
    assert isinstance(listener, listener_pb2.Listener)
    assert [c.name for c in listener.filter_chains] == chains
    assert bool(listener.listener_filters) is inspector
    for chain in listener.filter_chains:
        assert chain.HasField("transport_socket") is (chain.name == "mtls")


def test_auto_mtls_marks_only_endpoints_that_accept_mtls() -> None:
    """Clients mark reviews' endpoints `tlsMode: istio` unless reviews DISABLEs the port."""
    disable_v2 = _policy(
        "v2",
        "default",
        "  selector: {matchLabels: {app: reviews, version: v2}}\n  mtls: {mode: DISABLE}",
    )
    push = bookinfo_push(disable_v2)
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    assignment = resources.endpoints["outbound|9080||reviews.default.svc.cluster.local"]
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    marked = {
        e.metadata.filter_metadata["pilotfish"]["instance"]: TRANSPORT_SOCKET_MATCH
        in e.metadata.filter_metadata
        for e in assignment.endpoints[0].lb_endpoints
    }
    assert marked == {"reviews-v1-0": True, "reviews-v2-0": False, "reviews-v3-0": True}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("STRICT", [("mtls", "tls", "istio-http/1.0", "hcm"), ("mtls-tcp", "tls", "", "tcp")]),
        ("DISABLE", [("plaintext", "raw_buffer", "http/1.0", "hcm"),
                     ("plaintext-tcp", "raw_buffer", "", "tcp")]),
        ("PERMISSIVE", [("mtls", "tls", "istio-http/1.0", "hcm"),
                        ("mtls-tcp", "tls", "istio-peer-exchange", "tcp"),
                        ("plaintext", "raw_buffer", "http/1.0", "hcm"),
                        ("plaintext-tcp", "raw_buffer", "", "tcp"),
                        ("tls-passthrough", "tls", "", "tcp")]),
    ],
)  # fmt: skip
def test_a_port_with_no_protocol_is_http_or_tcp_per_connection(
    mode: str, expected: list[tuple[str, str, str, str]]
) -> None:
    """Istio's protocol detection on inbound: a Service port that names no protocol gets an HTTP
    and a TCP chain, told apart by ALPN inside mTLS and by http_inspector in plaintext (TLS a
    client passes through, as Istio's ingress gateway in PASSTHROUGH mode does, is TCP)."""
    from pilotfish.translate import listeners

    chains = listeners.inbound_filter_chains(9443, http=True, mode=mode, sniffed=True)
    seen = [
        (
            c.name,
            c.filter_chain_match.transport_protocol,
            (list(c.filter_chain_match.application_protocols) or [""])[0],
            "hcm" if "http_connection_manager" in c.filters[-1].name else "tcp",
        )
        for c in chains
    ]
    assert seen == expected
    listener = listeners.inbound_listener("127.0.0.9", 9443, chains, mode)
    inspectors = [f.name.rsplit(".", 1)[-1] for f in listener.listener_filters]
    wanted = {"STRICT": ["tls_inspector"], "DISABLE": ["http_inspector"]}
    assert inspectors == wanted.get(mode, ["tls_inspector", "http_inspector"])


def test_an_unnamed_service_port_is_detected_on_the_inbound() -> None:
    """A Service port with neither a protocol name prefix nor appProtocol (Istio's 'auto'):
    the sidecar's inbound port has both HTTP and TCP chains."""
    service = """apiVersion: v1
kind: Service
metadata: {name: unnamed}
spec:
  selector: {app: reviews}
  ports: [{port: 443, targetPort: 9443, protocol: TCP}]
---
"""
    push = bookinfo_push(service)
    resources = generate(sidecar_for(push, "reviews-v1-0", (9443, 19443)), push)
    listener = next(
        x for n, x in resources.listeners.items() if n.startswith("inbound_") and n.endswith("9443")
    )
    assert isinstance(listener, listener_pb2.Listener)
    assert "mtls-tcp" in [c.name for c in listener.filter_chains]


def _inbound_tls(mesh_mtls: MeshMtls) -> set[tuple[int, int, tuple[str, ...]]]:
    from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

    push = bookinfo_push(
        _policy("ns", "default", "  mtls: {mode: PERMISSIVE}"), mesh_mtls=mesh_mtls
    )
    resources = generate(sidecar_for(push, "reviews-v1-0", (9080, 19080)), push)
    listener = next(
        m for n, m in resources.listeners.items() if n.startswith("inbound_") and n.endswith("9080")
    )
    assert isinstance(listener, listener_pb2.Listener)
    found = set()
    for chain in listener.filter_chains:
        if chain.name != "mtls":
            continue
        context = tls_pb2.DownstreamTlsContext()
        chain.transport_socket.typed_config.Unpack(context)
        params = context.common_tls_context.tls_params
        found.add(
            (
                params.tls_minimum_protocol_version,
                params.tls_maximum_protocol_version,
                tuple(params.cipher_suites),
            )
        )
    return found


def test_mesh_mtls_sets_the_inbound_versions_and_ciphers() -> None:
    """Istio's BuildInboundTLS: TLS 1.2 to 1.3 with Istio's TLS 1.2 ciphers; MeshConfig
    `meshMTLS.minProtocolVersion: TLSV1_3` (Istio's "Workload Minimum TLS Version" task) refuses
    TLS 1.2, `meshMTLS.cipherSuites` replace the ciphers."""
    from envoy.extensions.transport_sockets.tls.v3 import common_pb2

    v12, v13 = common_pb2.TlsParameters.TLSv1_2, common_pb2.TlsParameters.TLSv1_3
    assert _inbound_tls(MeshMtls()) == {(v12, v13, SUPPORTED_CIPHERS)}
    assert _inbound_tls(MeshMtls("TLSV1_3")) == {(v13, v13, SUPPORTED_CIPHERS)}
    chosen = ("ECDHE-RSA-AES128-GCM-SHA256",)
    assert _inbound_tls(MeshMtls("TLSV1_2", chosen)) == {(v12, v13, chosen)}


def test_clients_offer_tls_1_2_to_1_3_as_istios() -> None:
    """Istio's client contexts (`defaultUpstreamCommonTLSContext`): TLS 1.2 to 1.3 (Envoy's
    client default stops at 1.2, which a server requiring 1.3 refuses)."""
    from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

    push = bookinfo_push()
    resources = generate(sidecar_for(push, "productpage-v1-0", (9080, 19080)), push)
    cluster = resources.clusters["outbound|9080||reviews.default.svc.cluster.local"]
    context = tls_pb2.UpstreamTlsContext()
    cluster.transport_socket_matches[0].transport_socket.typed_config.Unpack(context)
    params = context.common_tls_context.tls_params
    assert (params.tls_minimum_protocol_version, params.tls_maximum_protocol_version) == (
        common_pb2.TlsParameters.TLSv1_2,
        common_pb2.TlsParameters.TLSv1_3,
    )
