"""`translate.affected`: which proxies a config change can affect (the rest keep their snapshot;
`tests/controlplane/test_incremental.py` checks the result against translation from scratch)."""

from __future__ import annotations

from pilotfish import config
from pilotfish.config.kinds import VIRTUAL_SERVICE
from pilotfish.config.objects import AnyConfig
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import (
    Protocol,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)
from pilotfish.translate.affected import (
    affected_proxies,
    changed_configs,
    endpoint_change,
    peer_table_changed,
)

POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny, namespace: {ns}}}
spec: {{action: DENY, rules: [{{to: [{{operation: {{paths: [{path}]}}}}]}}]}}
"""
PEER = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: DISABLE}}
"""
PROXIES = {
    "a": Proxy(ProxyType.SIDECAR, "127.1.0.1", "a-0", "foo"),
    "b": Proxy(ProxyType.SIDECAR, "127.1.0.2", "b-0", "bar"),
    "gw": Proxy(ProxyType.ROUTER, "127.1.0.3", "gw-0", "istio-system"),
}


def _objects(text: str, source: str = "c.yaml") -> list[AnyConfig]:
    return list(config.load(text, source).objects)


def _push(objects: list[AnyConfig]) -> PushContext:
    return PushContext(registry=RegistrySnapshot(), configs=tuple(objects))


def test_changed_configs_are_both_versions_of_what_differs() -> None:
    old = _objects(POLICY.format(ns="foo", path="/a"))
    assert changed_configs(old, _objects(POLICY.format(ns="foo", path="/a"))) == []
    moved = _objects(POLICY.format(ns="foo", path="/a"), "other.yaml")  # notes name the file
    assert len(changed_configs(old, moved)) == 2
    new = _objects(POLICY.format(ns="foo", path="/b"))
    assert changed_configs(old, new) == [old[0], new[0]]
    assert changed_configs(old, []) == old


def test_a_namespaced_policy_affects_its_namespace_and_gateways_only() -> None:
    old: list[AnyConfig] = []
    new = _objects(POLICY.format(ns="foo", path="/a"))
    affected = affected_proxies(PROXIES, changed_configs(old, new), _push(new), _push(old))
    assert affected == {"a", "gw"}
    root = _objects(POLICY.format(ns="istio-system", path="/a"))
    everyone = affected_proxies(PROXIES, root, _push(root), _push([]))
    assert everyone == {"a", "b", "gw"}


SERVER_METRICS = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  metrics: [{{overrides: [{{match: {{metric: ALL_METRICS, mode: SERVER}}, disabled: {off}}}]}}]
"""


def test_a_telemetry_that_decides_whether_clients_send_their_identity_affects_every_proxy() -> None:
    """With server metrics off mesh-wide, no client sends its identity (`peers_exchanged`): a
    namespace's Telemetry that may turn them on again changes every client, not only its
    namespace's proxies. One that changes nothing of that stays in its namespace."""
    mesh_off = _objects(SERVER_METRICS.format(name="mesh", ns="istio-system", off="true"))
    foo_on = _objects(SERVER_METRICS.format(name="on", ns="foo", off="false"), "foo.yaml")
    new = mesh_off + foo_on
    changed = changed_configs(mesh_off, new)
    assert affected_proxies(PROXIES, changed, _push(new), _push(mesh_off)) is None
    # metrics on mesh-wide (the default): clients send either way
    assert affected_proxies(PROXIES, foo_on, _push(foo_on), _push([])) == {"a", "gw"}


ENVOY_FILTER = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {{name: lua, namespace: {ns}}}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {{context: SIDECAR_INBOUND}}
    patch: {{operation: INSERT_BEFORE, value: {{name: envoy.filters.http.lua}}}}
"""


def test_an_envoy_filter_affects_its_namespace_and_gateways_as_istio_scopes_it() -> None:
    new = _objects(ENVOY_FILTER.format(ns="foo"))
    assert affected_proxies(PROXIES, new, _push(new), _push([])) == {"a", "gw"}
    root = _objects(ENVOY_FILTER.format(ns="istio-system"))
    assert affected_proxies(PROXIES, root, _push(root), _push([])) == {"a", "b", "gw"}


def test_a_peer_authentication_affects_every_proxy() -> None:
    new = _objects(PEER)  # clients read it too (auto mTLS)
    assert affected_proxies(PROXIES, new, _push(new), _push([])) is None


# ---- endpoint changes: Istio's incremental EDS ----------------------------------------------

REVIEWS = Service(
    "reviews", "foo", (ServicePort("http", 9080, Protocol.HTTP, 9080),), (("app", "reviews"),)
)
SUBNETS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: foo}
spec:
  hosts: [db]
  tcp: [{match: [{destinationSubnets: [127.9.0.0/16]}], route: [{destination: {host: db}}]}]
"""
DNS_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: foo}
spec:
  hosts: [ext.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 9080}]
  workloadSelector: {labels: {app: reviews}}
"""


def _pod(name: str, address: str, ready: bool = True, account: str = "reviews") -> WorkloadInstance:
    return WorkloadInstance(
        name, "reviews-v1", "foo", address, (("app", "reviews"),), account, (9080,), ready
    )


def _registry(*pods: WorkloadInstance, configs: list[AnyConfig] | None = None) -> PushContext:
    registry = RegistrySnapshot(services=(REVIEWS,), instances=pods)
    return PushContext(registry=registry, configs=tuple(configs or ()))


def test_an_endpoint_change_names_the_services_whose_endpoints_moved() -> None:
    one = _pod("r-0", "127.1.0.5")
    two = _pod("r-1", "127.1.0.6")
    host = "reviews.foo.svc.cluster.local"
    assert endpoint_change(_registry(one), _registry(one)) == frozenset()
    assert endpoint_change(_registry(one), _registry(one, two)) == frozenset({host})  # scaled up
    assert endpoint_change(_registry(one, two), _registry(one)) == frozenset({host})  # scaled down
    not_ready = _pod("r-1", "127.1.0.6", ready=False)
    assert endpoint_change(_registry(one, two), _registry(one, not_ready)) == frozenset({host})


def test_an_endpoint_change_that_can_change_more_than_endpoints_is_a_full_push() -> None:
    one = _pod("r-0", "127.1.0.5")
    # a new service account: secure naming lists it in the clusters (CDS)
    other = _pod("r-1", "127.1.0.6", account="reviews-canary")
    assert endpoint_change(_registry(one), _registry(one, other)) is None
    # the first endpoint of a service (its service accounts change too)
    assert endpoint_change(_registry(), _registry(one)) is None
    # config or services differ: not an endpoint change at all
    policy = _objects(POLICY.format(ns="foo", path="/a"))
    assert endpoint_change(_registry(one), _registry(one, configs=policy)) is None
    # a DNS ServiceEntry (here selecting the pods) carries its endpoints in its cluster
    entry = _objects(DNS_ENTRY)
    two = _pod("r-1", "127.1.0.6")
    assert (
        endpoint_change(_registry(one, configs=entry), _registry(one, two, configs=entry)) is None
    )
    # a TCP route matching destination subnets reads the endpoint addresses (listeners)
    subnets = _objects(SUBNETS)
    assert (
        endpoint_change(_registry(one, configs=subnets), _registry(one, two, configs=subnets))
        is None
    )
    assert endpoint_change(_registry(one, two), _registry(one, two)) == frozenset()


def test_a_new_workload_under_a_known_account_changes_the_peer_table_not_the_push_kind() -> None:
    # TCP servers read their clients' names by certificate from their inbound clusters
    # (`principal_table`): a workload of another name under a known service account changes
    # that table, which only its holders are translated again for; the rest is EDS
    one, two = _pod("r-0", "127.1.0.5"), _pod("r-1", "127.1.0.6")
    canary = WorkloadInstance(
        "c-0", "reviews-canary", "foo", "127.1.0.7", (("app", "reviews"),), "reviews", (9080,)
    )
    host = "reviews.foo.svc.cluster.local"
    assert endpoint_change(_registry(one), _registry(one, canary)) == frozenset({host})
    assert peer_table_changed(_registry(one), _registry(one, canary))
    assert not peer_table_changed(_registry(one), _registry(one, two))  # same workload scaled


PLAIN_TCP = SUBNETS.replace("match: [{destinationSubnets: [127.9.0.0/16]}], ", "")


def test_the_subnet_answer_kept_for_the_same_virtual_services_is_asked_again_for_others() -> None:
    # `_matches_destination_subnets` keeps its answer for the very same VirtualServices (a push
    # context built from the last one keeps the kind's tuple): others are looked at again
    one, two = _pod("r-0", "127.1.0.5"), _pod("r-1", "127.1.0.6")
    host = "reviews.foo.svc.cluster.local"
    plain, subnets = _objects(PLAIN_TCP), _objects(SUBNETS)
    before = _registry(one, configs=plain)
    after = PushContext(RegistrySnapshot((REVIEWS,), (one, two)), tuple(plain), previous=before)
    assert after.kind(VIRTUAL_SERVICE) is before.kind(VIRTUAL_SERVICE)
    assert endpoint_change(before, after) == frozenset({host})
    assert endpoint_change(before, after) == frozenset({host})  # the kept answer
    assert (
        endpoint_change(_registry(one, configs=subnets), _registry(one, two, configs=subnets))
        is None
    )
    again = PushContext(RegistrySnapshot((REVIEWS,), (one,)), tuple(plain), previous=after)
    assert endpoint_change(after, again) == frozenset({host})
