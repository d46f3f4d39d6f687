"""Selector messages shared by several kinds, kept apart so a kind imports only what it uses.

`WorkloadSelector` (matchLabels: DestinationRule, PeerAuthentication, AuthorizationPolicy, ...),
`SidecarWorkloadSelector` (labels: Sidecar, EnvoyFilter) and `PolicyTargetReference`
(targetRef/targetRefs). Re-exported by the kind modules that defined them before.
"""

from __future__ import annotations

from pydantic import Field

from pilotfish.config.models.base import IstioModel, Str


class WorkloadSelector(IstioModel):
    match_labels: dict[str, Str] = Field(default_factory=dict)


class SidecarWorkloadSelector(IstioModel):
    labels: dict[str, Str] = Field(default_factory=dict)


class PolicyTargetReference(IstioModel):
    group: Str | None = None
    kind: Str | None = None
    name: Str | None = None
    namespace: Str | None = None
