"""Telemetry (telemetry.istio.io v1/v1alpha1): tracing, metrics, access logging.

Class names are Istio's proto message names; attributes are the snake_case of the API fields, with
the camelCase as alias. Validation beyond types lives in `pilotfish.config.validation`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotfish.config.models.base import Bool, EnumNumber, Float, IstioModel, Str
from pilotfish.config.models.selectors import (
    PolicyTargetReference as PolicyTargetReference,
)
from pilotfish.config.models.selectors import (
    WorkloadSelector as WorkloadSelector,
)


class AccessLoggingFilter(IstioModel):
    expression: Str | None = None


class AccessLoggingSelector(IstioModel):
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] | EnumNumber | None = None


class ProviderRef(IstioModel):
    name: Str | None = None


class AccessLogging(IstioModel):
    disabled: Bool | None = None
    filter: AccessLoggingFilter | None = None
    match: AccessLoggingSelector | None = None
    providers: tuple[ProviderRef, ...] = ()


class MetricSelector(IstioModel):
    custom_metric: Str | None = None
    metric: (
        Literal[
            "ALL_METRICS",
            "REQUEST_COUNT",
            "REQUEST_DURATION",
            "REQUEST_SIZE",
            "RESPONSE_SIZE",
            "TCP_OPENED_CONNECTIONS",
            "TCP_CLOSED_CONNECTIONS",
            "TCP_SENT_BYTES",
            "TCP_RECEIVED_BYTES",
            "GRPC_REQUEST_MESSAGES",
            "GRPC_RESPONSE_MESSAGES",
        ]
        | EnumNumber
        | None
    ) = None
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] | EnumNumber | None = None


class TagOverride(IstioModel):
    operation: Literal["UPSERT", "REMOVE"] | EnumNumber | None = None
    value: Str | None = None


class MetricsOverrides(IstioModel):
    disabled: Bool | None = None
    match: MetricSelector | None = None
    tag_overrides: dict[str, TagOverride] = Field(default_factory=dict)


class Metrics(IstioModel):
    overrides: tuple[MetricsOverrides, ...] = ()
    providers: tuple[ProviderRef, ...] = ()
    reporting_interval: Str | None = None


class Environment(IstioModel):
    default_value: Str | None = None
    name: Str | None = None


class Formatter(IstioModel):
    value: Str | None = None


class RequestHeader(IstioModel):
    default_value: Str | None = None
    name: Str | None = None


class TracingLiteral(IstioModel):
    value: Str | None = None


class CustomTag(IstioModel):
    environment: Environment | None = None
    formatter: Formatter | None = None
    header: RequestHeader | None = None
    literal: TracingLiteral | None = None


class TracingSelector(IstioModel):
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] | EnumNumber | None = None


class Tracing(IstioModel):
    custom_tags: dict[str, CustomTag] = Field(default_factory=dict)
    disable_context_propagation: Bool | None = None
    disable_span_reporting: Bool | None = None
    enable_istio_tags: Bool | None = None
    match: TracingSelector | None = None
    providers: tuple[ProviderRef, ...] = ()
    random_sampling_percentage: Float | None = None
    use_request_id_for_trace_sampling: Bool | None = None


class TelemetrySpec(IstioModel):
    access_logging: tuple[AccessLogging, ...] = ()
    metrics: tuple[Metrics, ...] = ()
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = ()
    tracing: tuple[Tracing, ...] = ()
