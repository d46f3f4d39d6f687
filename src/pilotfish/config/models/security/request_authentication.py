"""RequestAuthentication (security.istio.io v1/v1beta1): JWT rules.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from pilotfish.config.models.base import Bool, EnumNumber, IstioModel, Str
from pilotfish.config.models.selectors import (
    PolicyTargetReference as PolicyTargetReference,
)
from pilotfish.config.models.selectors import (
    WorkloadSelector as WorkloadSelector,
)


class JWTHeader(IstioModel):
    name: Str | None = None
    prefix: Str | None = None


class ClaimToHeader(IstioModel):
    claim: Str | None = None
    header: Str | None = None


class JWTRule(IstioModel):
    audiences: tuple[Str, ...] = ()
    forward_original_token: Bool | None = None
    from_cookies: tuple[Str, ...] = ()
    from_headers: tuple[JWTHeader, ...] = ()
    from_params: tuple[Str, ...] = ()
    issuer: Str | None = None
    jwks: Str | None = None
    jwks_uri: Str | None = Field(default=None, validation_alias=AliasChoices("jwksUri", "jwks_uri"))
    output_claim_to_headers: tuple[ClaimToHeader, ...] = ()
    output_payload_to_header: Str | None = None
    presence: Literal["OPTIONAL", "REQUIRED"] | EnumNumber | None = None
    space_delimited_claims: tuple[Str, ...] = ()
    timeout: Str | None = None


class RequestAuthenticationSpec(IstioModel):
    jwt_rules: tuple[JWTRule, ...] = ()
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = ()
