"""AuthorizationPolicy (security.istio.io v1/v1beta1): rules, sources, operations.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import EnumNumber, IstioModel, Str
from pilotfish.config.models.selectors import (
    PolicyTargetReference as PolicyTargetReference,
)
from pilotfish.config.models.selectors import (
    WorkloadSelector as WorkloadSelector,
)


class ExtensionProvider(IstioModel):
    name: Str | None = None


class Source(IstioModel):
    ip_blocks: tuple[Str, ...] = ()
    namespaces: tuple[Str, ...] = ()
    not_ip_blocks: tuple[Str, ...] = ()
    not_namespaces: tuple[Str, ...] = ()
    not_principals: tuple[Str, ...] = ()
    not_remote_ip_blocks: tuple[Str, ...] = ()
    not_request_principals: tuple[Str, ...] = ()
    not_service_accounts: tuple[Str, ...] = ()
    not_trust_domains: tuple[Str, ...] = ()
    principals: tuple[Str, ...] = ()
    remote_ip_blocks: tuple[Str, ...] = ()
    request_principals: tuple[Str, ...] = ()
    service_accounts: tuple[Str, ...] = ()
    trust_domains: tuple[Str, ...] = ()


class From(IstioModel):
    source: Source | None = None


class Operation(IstioModel):
    hosts: tuple[Str, ...] = ()
    methods: tuple[Str, ...] = ()
    not_hosts: tuple[Str, ...] = ()
    not_methods: tuple[Str, ...] = ()
    not_paths: tuple[Str, ...] = ()
    not_ports: tuple[Str, ...] = ()
    paths: tuple[Str, ...] = ()
    ports: tuple[Str, ...] = ()


class To(IstioModel):
    operation: Operation | None = None


class Condition(IstioModel):
    key: Str | None = None
    not_values: tuple[Str, ...] = ()
    values: tuple[Str, ...] = ()


class Rule(IstioModel):
    from_: tuple[From, ...] = Field(default=(), alias="from")
    to: tuple[To, ...] = ()
    when: tuple[Condition, ...] = ()


class AuthorizationPolicySpec(IstioModel):
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | EnumNumber | None = None
    provider: ExtensionProvider | None = None
    rules: tuple[Rule, ...] = ()
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = ()
