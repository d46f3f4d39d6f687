"""`translate.affected`: which proxies a config change can affect (the rest keep their snapshot;
`tests/controlplane/test_incremental.py` checks the result against translation from scratch)."""

from __future__ import annotations

from pilotfish import config
from pilotfish.config.objects import AnyConfig
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot
from pilotfish.translate.affected import affected_proxies, changed_configs

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


def test_a_peer_authentication_affects_every_proxy() -> None:
    new = _objects(PEER)  # clients read it too (auto mTLS)
    assert affected_proxies(PROXIES, new, _push(new), _push([])) is None
