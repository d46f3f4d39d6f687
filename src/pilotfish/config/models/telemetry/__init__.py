"""telemetry.istio.io models: `TelemetrySpec` and its messages (Istio's proto names)."""

from __future__ import annotations

from pilotfish.config.models.telemetry.telemetry import (
    AccessLogging,
    AccessLoggingFilter,
    AccessLoggingSelector,
    CustomTag,
    Environment,
    Formatter,
    Metrics,
    MetricSelector,
    MetricsOverrides,
    ProviderRef,
    RequestHeader,
    TagOverride,
    TelemetrySpec,
    Tracing,
    TracingLiteral,
    TracingSelector,
)

__all__ = [
    "AccessLogging",
    "AccessLoggingFilter",
    "AccessLoggingSelector",
    "CustomTag",
    "Environment",
    "Formatter",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "ProviderRef",
    "RequestHeader",
    "TagOverride",
    "TelemetrySpec",
    "Tracing",
    "TracingLiteral",
    "TracingSelector",
]
