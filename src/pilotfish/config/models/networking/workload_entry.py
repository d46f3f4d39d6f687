"""WorkloadEntry and WorkloadGroup (networking.istio.io v1/v1beta1/v1alpha3).

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from pydantic import Field

from pilotfish.config.models.base import Int, IstioModel, Str
from pilotfish.config.models.networking.service_entry import WorkloadEntry


class WorkloadEntrySpec(WorkloadEntry):
    """The spec of a WorkloadEntry: Istio's `WorkloadEntry` message, as a ServiceEntry endpoint
    is. A class of its own because the semantic checks of the two places differ."""


class ObjectMeta(IstioModel):
    annotations: dict[str, Str] = Field(default_factory=dict)
    labels: dict[str, Str] = Field(default_factory=dict)


class ExecHealthCheckConfig(IstioModel):
    command: tuple[Str, ...] = ()


class GrpcHealthCheckConfig(IstioModel):
    port: Int | None = None
    service: Str | None = None


class HTTPHeader(IstioModel):
    name: Str | None = None
    value: Str | None = None


class HTTPHealthCheckConfig(IstioModel):
    host: Str | None = None
    http_headers: tuple[HTTPHeader, ...] = ()
    path: Str | None = None
    port: Int | None = None
    scheme: Str | None = None


class TCPHealthCheckConfig(IstioModel):
    host: Str | None = None
    port: Int | None = None


class ReadinessProbe(IstioModel):
    exec: ExecHealthCheckConfig | None = None
    failure_threshold: Int | None = None
    grpc: GrpcHealthCheckConfig | None = None
    http_get: HTTPHealthCheckConfig | None = None
    initial_delay_seconds: Int | None = None
    period_seconds: Int | None = None
    success_threshold: Int | None = None
    tcp_socket: TCPHealthCheckConfig | None = None
    timeout_seconds: Int | None = None


class WorkloadGroupSpec(IstioModel):
    metadata: ObjectMeta | None = None
    probe: ReadinessProbe | None = None
    template: WorkloadEntry | None = None
