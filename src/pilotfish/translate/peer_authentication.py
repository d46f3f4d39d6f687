"""PeerAuthentication (security.istio.io v1 and v1beta1) -> the effective mTLS mode of a
workload and of each of its ports, with Istio's precedence (`ComposePeerAuthentication`):

- candidates: policies of the root namespace (mesh-wide) and of the workload's namespace, whose
  selector is empty or matches the workload's labels; a selector policy in the root namespace
  is ignored, as in Istio;
- one policy per level (mesh, namespace, workload): the oldest (`creationTimestamp`), ties by
  name;
- the mode starts PERMISSIVE; a mesh, then namespace, then workload policy whose mode is not
  UNSET replaces it; `portLevelMtls` (keyed by the workload's port) overrides per port, an UNSET
  port inheriting the workload's result.

Pure: reads only its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pilotfish.config.kinds import PEER_AUTHENTICATION
from pilotfish.model.push_context import PushContext

if TYPE_CHECKING:
    from pilotfish.config.models.security import MutualTLS
    from pilotfish.config.objects import PeerAuthentication

STRICT, PERMISSIVE, DISABLE, UNSET = "STRICT", "PERMISSIVE", "DISABLE", "UNSET"


@dataclass(frozen=True)
class EffectiveMtls:
    """The composed mode, per-port overrides, and the policies it came from (for describe)."""

    mode: str = PERMISSIVE
    ports: tuple[tuple[int, str], ...] = ()
    policies: tuple[str, ...] = ()  # "namespace/name" of the mesh, namespace, workload policies

    def at(self, port: int) -> str:
        return dict(self.ports).get(port, self.mode)


def _mode(mtls: MutualTLS | None) -> str:
    return str(mtls.mode or UNSET) if mtls is not None else UNSET


def _age(policy: PeerAuthentication) -> tuple[str, str]:
    created = str((policy.raw.get("metadata") or {}).get("creationTimestamp") or "")
    return (created or "~", policy.meta.name)  # no timestamp sorts after any timestamp


def _selector(policy: PeerAuthentication) -> dict[str, str]:
    selector = policy.spec.selector
    return dict(selector.match_labels) if selector is not None else {}


def effective_mtls(namespace: str, labels: dict[str, str], push: PushContext) -> EffectiveMtls:
    key = ("pilotfish.translate.peer_authentication", namespace, tuple(sorted(labels.items())))
    return push.memoized(key, lambda: _compose(namespace, labels, push))


def _compose(namespace: str, labels: dict[str, str], push: PushContext) -> EffectiveMtls:
    root = push.mesh.root_namespace
    mesh: PeerAuthentication | None = None
    own_namespace: PeerAuthentication | None = None
    workload: PeerAuthentication | None = None
    for policy in push.kind(PEER_AUTHENTICATION):
        ns = policy.meta.namespace
        if ns not in (root, namespace):
            continue
        selector = _selector(policy)
        if not selector:
            if ns == root:
                mesh = _older(mesh, policy)
            else:
                own_namespace = _older(own_namespace, policy)
        elif ns != root and all(labels.get(k) == v for k, v in selector.items()):
            workload = _older(workload, policy)
    mode = PERMISSIVE
    used: list[str] = []
    for level in (mesh, own_namespace, workload):
        if level is None:
            continue
        used.append(f"{level.meta.namespace}/{level.meta.name}")
        if _mode(level.spec.mtls) != UNSET:
            mode = _mode(level.spec.mtls)
    ports: list[tuple[int, str]] = []
    if workload is not None:
        for port, mtls in (workload.spec.port_level_mtls or {}).items():
            if str(port).isdigit():
                port_mode = _mode(mtls)
                ports.append((int(port), mode if port_mode == UNSET else port_mode))
    return EffectiveMtls(mode, tuple(sorted(ports)), tuple(used))


def _older(current: PeerAuthentication | None, candidate: PeerAuthentication) -> PeerAuthentication:
    if current is None or _age(candidate) < _age(current):
        return candidate
    return current
