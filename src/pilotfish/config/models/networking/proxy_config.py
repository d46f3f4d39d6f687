"""ProxyConfig (networking.istio.io v1beta1): per-workload proxy settings.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from pydantic import Field

from pilotfish.config.models.base import Int, IstioModel, Str
from pilotfish.config.models.selectors import WorkloadSelector as WorkloadSelector


class ProxyImage(IstioModel):
    image_type: Str | None = None


class ProxyConfigSpec(IstioModel):
    concurrency: Int | None = None
    environment_variables: dict[str, Str] = Field(default_factory=dict)
    image: ProxyImage | None = None
    selector: WorkloadSelector | None = None
