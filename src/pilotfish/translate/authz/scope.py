"""Which AuthorizationPolicies (and RequestAuthentications) apply to a proxy: Istio's scoping.

A policy in the root namespace (MeshConfig `rootNamespace`, `istio-system`) applies mesh-wide, one
elsewhere to its own namespace. Inside that: `targetRef`/`targetRefs` attach it to a gateway
(kind `Gateway`, matched by the proxy's `gateway.networking.k8s.io/gateway-name` label, else its
workload name, in the policy's namespace) and never to a sidecar; `selector.matchLabels` narrows it
to workloads whose labels contain them; neither means every workload in scope. Policies come in
root-namespace-then-own-namespace order, by name inside one namespace; actions are grouped as
Istio does (CUSTOM, DENY, ALLOW, AUDIT). `istio.io/dry-run: "true"` marks a policy whose rules
are evaluated and counted but never enforced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from pilotfish.config.kinds import (
    AUTHORIZATION_POLICY,
    GATEWAY_NAME_LABEL,
    REQUEST_AUTHENTICATION,
    Kind,
)
from pilotfish.config.objects import AuthorizationPolicy, ConfigObject, RequestAuthentication
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext

if TYPE_CHECKING:
    from pilotfish.config.models.selectors import PolicyTargetReference, WorkloadSelector

DRY_RUN_ANNOTATION = "istio.io/dry-run"


class Attachable(Protocol):
    """What scoping reads of a policy's spec (AuthorizationPolicy, RequestAuthentication)."""

    @property
    def selector(self) -> WorkloadSelector | None: ...
    @property
    def target_ref(self) -> PolicyTargetReference | None: ...
    @property
    def target_refs(self) -> tuple[PolicyTargetReference, ...]: ...


SpecT = TypeVar("SpecT", bound=Attachable)


@dataclass(frozen=True)
class Applied:
    """The policies that apply to one proxy, by action, in Istio's evaluation order."""

    custom: tuple[AuthorizationPolicy, ...] = ()
    deny: tuple[AuthorizationPolicy, ...] = ()
    allow: tuple[AuthorizationPolicy, ...] = ()
    audit: tuple[AuthorizationPolicy, ...] = ()
    all: tuple[AuthorizationPolicy, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.all)


def is_dry_run(policy: AuthorizationPolicy) -> bool:
    value = dict(policy.meta.annotations).get(DRY_RUN_ANNOTATION, "")
    return value.strip().lower() in ("true", "1", "t")


def _targets(spec: Attachable) -> list[PolicyTargetReference]:
    refs = list(spec.target_refs or ())
    if spec.target_ref is not None:
        refs.insert(0, spec.target_ref)
    return refs


def attaches(config: ConfigObject[SpecT], proxy: Proxy, root_namespace: str) -> bool:
    """Istio's ShouldAttachPolicy for one selector/targetRef policy and one proxy."""
    if config.meta.namespace not in (root_namespace, proxy.namespace):
        return False
    spec = config.spec
    targets = _targets(spec)
    if targets:
        if not proxy.is_gateway or config.meta.namespace != proxy.namespace:
            return False
        labels = proxy.label_map
        name = labels.get(GATEWAY_NAME_LABEL) or proxy.workload or proxy.instance
        return any(
            (t.kind or "") == "Gateway"
            and (t.namespace or config.meta.namespace) == proxy.namespace
            and t.name == name
            for t in targets
        )
    if spec.selector is not None:
        labels = proxy.label_map
        return all(labels.get(k) == v for k, v in spec.selector.match_labels.items())
    return True


def _ordered(push: PushContext, kind: Kind[SpecT], proxy: Proxy) -> list[ConfigObject[SpecT]]:
    root = push.mesh.root_namespace
    found = [c for c in push.kind(kind) if attaches(c, proxy, root)]
    return sorted(found, key=lambda c: (c.meta.namespace != root, c.meta.namespace, c.meta.name))


def applied_policies(proxy: Proxy, push: PushContext) -> Applied:
    found = _ordered(push, AUTHORIZATION_POLICY, proxy)

    def of(action: str) -> tuple[AuthorizationPolicy, ...]:
        return tuple(c for c in found if (c.spec.action or "ALLOW") == action)

    return Applied(of("CUSTOM"), of("DENY"), of("ALLOW"), of("AUDIT"), tuple(found))


def applied_request_authentications(proxy: Proxy, push: PushContext) -> list[RequestAuthentication]:
    return _ordered(push, REQUEST_AUTHENTICATION, proxy)
