"""PeerAuthentication (security.istio.io v1/v1beta1): mTLS modes.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import EnumNumber, IstioModel
from pilotfish.config.models.selectors import WorkloadSelector as WorkloadSelector


class MutualTLS(IstioModel):
    mode: Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] | EnumNumber | None = None


class PeerAuthenticationSpec(IstioModel):
    mtls: MutualTLS | None = None
    port_level_mtls: dict[str, MutualTLS] = Field(default_factory=dict)
    selector: WorkloadSelector | None = None
