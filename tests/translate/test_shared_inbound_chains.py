"""`inbound_shared.chains`: an inbound port's filter chains are built once per push context for
every sidecar that gives `listeners.inbound_filter_chains` the same arguments (the instances of
one service, with the same authorization filters by content), and each sidecar's own part is
still what translating it alone in a fresh push context gives, byte for byte: without a policy,
with an AuthorizationPolicy that selects one instance only (its chains are its own), and with
STRICT mutual TLS for one instance."""

from __future__ import annotations

import pytest
from envoy.config.listener.v3 import listener_pb2
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.model.push_context import PushContext
from pilotfish.translate.authz import authz_filters
from pilotfish.translate.generate import generate_parts
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import ROUTE

INSTANCES = ("reviews-v1-0", "reviews-v2-0", "reviews-v3-0")
ONE_INSTANCE_POLICY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-v1, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
"""
ONE_INSTANCE_STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: only-v2, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  mtls: {mode: STRICT}
"""


def _own(instance: str, push: PushContext) -> ProxyResources:
    return generate_parts(sidecar_for(push, instance, (9080, 19080)), push)[1]


def _bytes(part: ProxyResources) -> dict[str, dict[str, bytes]]:
    return {
        t: {n: m.SerializeToString(deterministic=True) for n, m in part[t].items()} for t in part
    }


def _chains(push: PushContext) -> list[object]:
    return [k for k in push.memo if isinstance(k, tuple) and "inbound_chains" in str(k[0])]


@pytest.mark.parametrize(
    ("config", "distinct"),
    [("", 1), (ONE_INSTANCE_POLICY, 2), (ONE_INSTANCE_STRICT, 2)],
    ids=["no policy", "a policy for one instance", "STRICT for one instance"],
)
def test_instances_share_inbound_chains_and_translate_as_alone(config: str, distinct: int) -> None:
    push = bookinfo_push(config)
    together = [_own(i, push) for i in INSTANCES]
    assert len(_chains(push)) == distinct  # chain sets built in the push context
    for instance, own in zip(INSTANCES, together, strict=True):
        alone = _own(instance, bookinfo_push(config))
        assert _bytes(own) == _bytes(alone), instance
        listeners = [m for m in own.listeners.values() if m.name.startswith("inbound_")]
        assert len(listeners) == 1 and isinstance(listeners[0], listener_pb2.Listener)
        assert listeners[0].filter_chains, instance


def test_authorization_filters_and_inbound_routes_are_one_object_per_selection() -> None:
    """`authz_filters` gives one object to every sidecar the same policies apply to (and the
    inbound route configuration carrying their rules is one object, decorated once per
    service); an instance a policy selects alone gets its own, which holds its rules."""
    push = bookinfo_push(ONE_INSTANCE_POLICY)
    proxies = [sidecar_for(push, i, (9080, 19080)) for i in INSTANCES]
    found = [authz_filters(p, push) for p in proxies]
    assert found[1] is found[2] and found[0] is not found[1]
    assert "pilotfish.authz.deny" in found[0].per_route and not found[1].per_route.keys() & {
        "pilotfish.authz.deny"
    }
    routes = [_own(i, push)[ROUTE]["inbound|9080||"] for i in INSTANCES]
    assert routes[1] is routes[2] and routes[0] is not routes[1]
    alone = [
        _own(i, bookinfo_push(ONE_INSTANCE_POLICY))[ROUTE]["inbound|9080||"] for i in INSTANCES
    ]
    for shared, own in zip(routes, alone, strict=True):
        assert shared.SerializeToString(deterministic=True) == own.SerializeToString(
            deterministic=True
        )
