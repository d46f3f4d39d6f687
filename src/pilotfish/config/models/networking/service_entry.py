"""ServiceEntry (networking.istio.io v1/v1beta1/v1alpha3): hosts, ports, resolution and endpoints.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import EnumNumber, Int, IstioModel, Str


class WorkloadEntry(IstioModel):
    address: Str | None = None
    labels: dict[str, Str] = Field(default_factory=dict)
    locality: Str | None = None
    network: Str | None = None
    ports: dict[str, Int] = Field(default_factory=dict)
    service_account: Str | None = None
    weight: Int | None = None


class ServicePort(IstioModel):
    name: Str | None = None
    number: Int | None = None
    protocol: Str | None = None
    target_port: Int | None = None


class ServiceEntryWorkloadSelector(IstioModel):
    labels: dict[str, Str] = Field(default_factory=dict)


class ServiceEntrySpec(IstioModel):
    addresses: tuple[Str, ...] = ()
    endpoints: tuple[WorkloadEntry, ...] = ()
    export_to: tuple[Str, ...] = ()
    hosts: tuple[Str, ...] = ()
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | EnumNumber | None = None
    ports: tuple[ServicePort, ...] = ()
    resolution: (
        Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] | EnumNumber | None
    ) = None
    subject_alt_names: tuple[Str, ...] = ()
    workload_selector: ServiceEntryWorkloadSelector | None = None
